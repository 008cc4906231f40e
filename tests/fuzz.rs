//! Property tests with a fixed budget on the places where untrusted input
//! meets the host: plugin files, manifests, and what a guest returns. The
//! property is always the same: no panic, and a refusal is one line.
//!
//! (cargo-fuzz needs a nightly toolchain; these run on stable, in CI.)

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use activity_host::bindings::types::ApplicationError;
use activity_host::engine::EngineOptions;
use activity_host::payload::PayloadLimits;
use activity_host::worker::convert;
use activity_host::{Failure, Limits, Outcome, Payload, Runtime, manifest};
use common::*;
use proptest::prelude::*;

fn tokio() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap())
}

fn runtime() -> &'static Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(&EngineOptions { max_instances: 8, ..EngineOptions::default() }, Limits::default()).unwrap()
    })
}

/// Loads `bytes` as a plugin file: it may load or be refused, never panic,
/// and a refusal is one line.
fn load_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = TempDir::new();
    let path = dir.write("fuzzed.wasm", bytes);
    match tokio().block_on(runtime().load(&path)) {
        Ok(_) => Ok(()),
        Err(e) => {
            let text = e.to_string();
            prop_assert!(!text.contains('\n'), "a refusal spans lines: {text}");
            prop_assert!(!text.is_empty());
            Ok(())
        }
    }
}

fn say_hello() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(example("say_hello")).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_files_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        load_bytes(&bytes)?;
    }

    #[test]
    fn random_files_with_a_component_header_are_refused_cleanly(tail in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
        bytes.extend(tail);
        load_bytes(&bytes)?;
    }
}

proptest! {
    // Each case compiles a real component: a smaller budget.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn damaged_plugins_load_or_are_refused_cleanly(
        cut in 0usize..1_000_000,
        flips in prop::collection::vec((0usize..1_000_000, any::<u8>()), 0..8),
    ) {
        let mut bytes = say_hello().to_vec();
        for (at, value) in flips {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        load_bytes(&bytes)?;
    }
}

/// Manifest text from a small grammar: real and made-up sections and keys,
/// values of every TOML type.
fn manifest_text() -> impl Strategy<Value = String> {
    let section = prop::sample::select(vec!["limits", "env", "http", "tcp", "dirs", "nonsense", "limits.deeper"]);
    let key = prop::sample::select(vec![
        "memory",
        "timeout",
        "max_timeout",
        "fuel",
        "max_stack",
        "output",
        "vars",
        "inherit",
        "allow",
        "connect",
        "host",
        "guest",
        "write",
        "memroy",
        "",
        "a.b",
    ]);
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-zA-Z0-9:/.* ]{0,20}".prop_map(|s| format!("{s:?}")),
        Just("\"1GiB\"".to_string()),
        Just("\"30s\"".to_string()),
        Just("[\"127.0.0.1:80\", { host = \"x\", ports = [0] }]".to_string()),
        Just("{ A = \"b\" }".to_string()),
        Just("[[]]".to_string()),
        "[^\\n]{0,12}",
    ];
    let line = (key, value).prop_map(|(k, v)| format!("{k} = {v}"));
    let block = (section, any::<bool>(), prop::collection::vec(line, 0..4)).prop_map(|(s, array, lines)| {
        let header = if array { format!("[[{s}]]") } else { format!("[{s}]") };
        format!("{header}\n{}\n", lines.join("\n"))
    });
    prop::collection::vec(block, 0..4).prop_map(|blocks| blocks.concat())
}

fn check_manifest(text: &str) -> Result<(), TestCaseError> {
    match manifest::parse(Path::new("plugins/fuzzed.toml"), text, &Limits::default()) {
        Ok(_) => Ok(()),
        Err(e) => {
            let line = e.to_string();
            prop_assert!(line.starts_with("plugins/fuzzed.toml: "), "{line}");
            prop_assert!(!line.contains('\n'), "{line}");
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn manifests_parse_or_name_the_problem(text in manifest_text()) {
        check_manifest(&text)?;
    }

    #[test]
    fn arbitrary_text_as_a_manifest(text in "\\PC{0,200}") {
        check_manifest(&text)?;
    }
}

fn payload() -> impl Strategy<Value = Payload> {
    let key = prop_oneof![Just("encoding".to_string()), "\\PC{0,8}"];
    let value = prop_oneof![
        Just(b"json/plain".to_vec()),
        Just(b"binary/null".to_vec()),
        Just(b"binary/plain".to_vec()),
        prop::collection::vec(any::<u8>(), 0..16),
    ];
    (prop::collection::vec((key, value), 0..4), prop::collection::vec(any::<u8>(), 0..64))
        .prop_map(|(metadata, data)| Payload { metadata, data })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// What a guest returns passes through the host's checks and into the
    /// worker's completion without a panic, whatever it holds.
    #[test]
    fn guest_output_is_checked_without_panicking(
        result in payload(),
        details in prop::collection::vec(payload(), 0..4),
        message in "\\PC{0,40}",
        error_type in "\\PC{0,12}",
        non_retryable in any::<bool>(),
        delay in prop::option::of(any::<u64>()),
        trace in "\\PC{0,40}",
    ) {
        let limits = PayloadLimits { single: 48, total: 96 };
        let _ = result.validate();
        let _ = limits.check(std::slice::from_ref(&result), "the result");
        let _ = limits.check(&details, "the details");
        let _ = result.to_json_text();
        let error = ApplicationError {
            message,
            error_type,
            non_retryable,
            details,
            next_retry_delay_ms: delay,
            stack_trace: trace,
        };
        let failure = Failure::from(error);
        let _ = failure.to_string();
        let _ = convert::completion(Outcome::Failed(failure), None);
        let _ = convert::completion(Outcome::Completed(result), None);
    }
}
