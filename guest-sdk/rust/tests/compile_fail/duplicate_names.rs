#[activity::defn(name = "greet")]
fn hello(name: String) -> String {
    format!("Hello, {name}!")
}

#[activity::defn]
fn greet(name: String) -> String {
    format!("Hi, {name}!")
}

activity::export!(hello, greet);

fn main() {}
