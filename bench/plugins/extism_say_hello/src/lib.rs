//! `say_hello_activity` as an Extism plugin: the same JSON in, the same JSON
//! out, so the benchmark compares runtimes, not work.
use extism_pdk::*;

#[plugin_fn]
pub fn say_hello(input: Vec<u8>) -> FnResult<Vec<u8>> {
    let name: String = serde_json::from_slice(&input)?;
    Ok(serde_json::to_vec(&format!("Hello, {name}!"))?)
}
