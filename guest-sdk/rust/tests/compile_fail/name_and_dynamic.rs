#[activity::defn(name = "greet", dynamic)]
fn greet(args: Vec<activity::RawValue>) -> usize {
    args.len()
}

activity::export!(greet);

fn main() {}
