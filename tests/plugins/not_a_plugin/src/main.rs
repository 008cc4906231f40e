//! A WASI command: a perfectly good component, of the wrong world.
fn main() {
    println!("I am a command, not an activity plugin");
}
