#[activity::defn(dynamic)]
fn fallback(first: Vec<activity::RawValue>, second: String) -> String {
    second
}

fn main() {}
