use activity::RawValue;

#[activity::defn(dynamic)]
fn first(args: Vec<RawValue>) -> usize {
    args.len()
}

#[activity::defn(dynamic)]
fn second(args: Vec<RawValue>) -> usize {
    args.len()
}

activity::export!(first, second);

fn main() {}
