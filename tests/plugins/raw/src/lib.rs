//! A plugin written against `wit/activity.wit` with wit-bindgen alone, as an
//! author in a language without an SDK would. Built once per feature, each
//! build breaks one rule of `definitions()` so the host's refusals can be
//! tested; the default build is a dynamic entry that echoes the raw payloads,
//! and one named activity, `raw_named`, that echoes the same way (so that a
//! plugin holding both can be seen to keep its name when its dynamic entry
//! is not served).

wit_bindgen::generate!({ path: "../../../wit", world: "plugin" });

use exports::activity_host::plugin::activities::{ActivityDefinition, ApplicationError, Guest, Payload};

struct Raw;

fn def(name: &str, dynamic: bool) -> ActivityDefinition {
    ActivityDefinition { name: name.to_string(), dynamic }
}

impl Guest for Raw {
    fn definitions() -> Vec<ActivityDefinition> {
        if cfg!(feature = "trap-definitions") {
            panic!("definitions() refuses to answer");
        }
        if cfg!(feature = "empty-name") {
            return vec![def("", false)];
        }
        if cfg!(feature = "duplicate-names") {
            return vec![def("twice", false), def("twice", false)];
        }
        if cfg!(feature = "two-dynamic") {
            return vec![def("first", true), def("second", true)];
        }
        if cfg!(feature = "no-definitions") {
            return Vec::new();
        }
        if cfg!(feature = "many-names") {
            return (0..100_000).map(|i| def(&format!("activity_{i}"), false)).collect();
        }
        vec![def("raw_echo", true), def("raw_named", false)]
    }

    fn execute(name: String, args: Vec<Payload>) -> Result<Payload, ApplicationError> {
        // Output no Temporal payload can carry, for the host's checks.
        let json = || ("encoding".to_string(), b"json/plain".to_vec());
        match name.as_str() {
            "duplicate_metadata" => return Ok(Payload { metadata: vec![json(), json()], data: b"1".to_vec() }),
            "no_encoding" => return Ok(Payload { metadata: vec![], data: b"1".to_vec() }),
            "not_json" => return Ok(Payload { metadata: vec![json()], data: b"{not json".to_vec() }),
            // The first argument as it came, for round trips through the server.
            "raw_return" => return args.into_iter().next().ok_or_else(|| no_argument(&name)),
            _ => {}
        }
        let seen: Vec<serde_json::Value> = args
            .iter()
            .map(|p| {
                let metadata: serde_json::Map<String, serde_json::Value> = p
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned().into()))
                    .collect();
                serde_json::json!({ "metadata": metadata, "data": String::from_utf8_lossy(&p.data) })
            })
            .collect();
        let body = serde_json::json!({ "activity_type": name, "args": seen });
        Ok(Payload {
            metadata: vec![("encoding".to_string(), b"json/plain".to_vec())],
            data: serde_json::to_vec(&body).unwrap(),
        })
    }
}

fn no_argument(name: &str) -> ApplicationError {
    ApplicationError {
        message: format!("{name} returns its first argument, and it was given none"),
        error_type: "ValueError".to_string(),
        non_retryable: true,
        details: Vec::new(),
        next_retry_delay_ms: None,
        stack_trace: String::new(),
    }
}

export!(Raw);
