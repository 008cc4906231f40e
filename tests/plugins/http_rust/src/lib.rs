//! Test plugin: one activity, `http_call`, that sends the request it is given
//! and describes the response, or the error, as data (the contract in
//! tests/e2e's HTTP tests), so a refused request is a result to check rather
//! than a failed activity.

use std::collections::BTreeMap;

use activity::http::{Client, HttpError, Method};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Call {
    client: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    json: Option<Value>,
}

#[activity::defn]
fn http_call(call: Call) -> Value {
    match call.client.as_str() {
        "sdk" => sdk(&call).unwrap_or_else(|e| json!({"error": "HttpError", "message": e.to_string()})),
        other => {
            json!({"error": "ValueError", "message": format!("unknown client {other:?} (this plugin has \"sdk\")")})
        }
    }
}

fn sdk(call: &Call) -> Result<Value, HttpError> {
    let Ok(method) = Method::from_bytes(call.method.as_bytes()) else {
        return Ok(json!({"error": "ValueError", "message": format!("invalid method {:?}", call.method)}));
    };
    let mut request = Client::new().request(method, &call.url).headers(&call.headers);
    if let Some(body) = call.json.as_ref().filter(|v| !v.is_null()) {
        request = request.json(body);
    }
    let response = request.send()?;
    let mut headers = BTreeMap::new();
    for name in response.headers().keys() {
        let first = response.headers().get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        headers.insert(name.as_str().to_string(), first.unwrap_or_default());
    }
    Ok(json!({
        "status": response.status().as_u16(),
        "headers": headers,
        "body": String::from_utf8_lossy(response.bytes()),
        "url": response.url(),
    }))
}

activity::export!(http_call);
