//! The host library against real plugins: loading, the registry's rules,
//! dispatch, and every way an execution ends.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_host::engine::EngineOptions;
use activity_host::failure::kind;
use activity_host::{Limits, Outcome, Payload, Registry, Request, Runtime};
use common::*;

fn runtime(limits: Limits) -> Arc<Runtime> {
    Runtime::new(&EngineOptions { max_instances: 64, ..EngineOptions::default() }, limits).unwrap()
}

async fn load(dir: &TempDir) -> Registry {
    runtime(Limits::default()).load_dir(dir.path()).await.unwrap()
}

fn json(text: &str) -> Payload {
    Payload::from_json_arg(text).unwrap()
}

async fn call(registry: &Registry, name: &str, args: &[&str]) -> Outcome {
    registry.execute(Request::local(name, args.iter().map(|a| json(a)).collect())).await
}

fn misbehave_dir() -> TempDir {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_examples_answer_as_documented() {
    let dir = examples_dir();
    let registry = load(&dir).await;
    assert!(registry.refused().is_empty(), "{:?}", registry.refused());

    let params = r#"{"greeting":"Hello","name":"World"}"#;
    assert_eq!(completed(call(&registry, "your_activity", &[params]).await), r#""Hello, World!""#);
    assert_eq!(completed(call(&registry, "say_hello_activity", &[r#""World""#]).await), r#""Hello, World!""#);
    assert_eq!(completed(call(&registry, "my-activity", &[r#""Temporal""#]).await), r#""Hello, Temporal!""#);
    assert_eq!(
        completed(call(&registry, "unregistered_activity", &[params]).await),
        r#""Hello, World!\nActivity Type: unregistered_activity""#
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_lists_names_dynamic_entry_and_files() {
    let dir = examples_dir();
    let registry = load(&dir).await;
    let names: Vec<(&str, String)> =
        registry.activities().into_iter().map(|(name, plugin)| (name, plugin.name().to_string())).collect();
    assert_eq!(
        names,
        [
            ("my-activity", "my_activity.wasm".to_string()),
            ("say_hello_activity", "say_hello.wasm".to_string()),
            ("your_activity", "your_activity.wasm".to_string()),
        ]
    );
    assert_eq!(registry.dynamic().unwrap().name(), "dynamic_greeting.wasm");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_name_without_a_dynamic_entry_is_not_found() {
    let dir = TempDir::new();
    dir.add("say_hello.wasm", &example("say_hello"));
    dir.add("your_activity.wasm", &example("your_activity"));
    let registry = load(&dir).await;
    let failure = failed(call(&registry, "unregistered_activity", &["1"]).await);
    assert_eq!(failure.error_type, "NotFoundError");
    assert_eq!(
        failure.message,
        "Activity function unregistered_activity is not registered on this worker, \
         available activities: say_hello_activity, your_activity"
    );
    assert!(!failure.non_retryable);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_files_are_refused_one_line_each_and_good_ones_still_serve() {
    let dir = TempDir::new();
    dir.add("a_say_hello.wasm", &example("say_hello"));
    dir.write("corrupt.wasm", b"this is not webassembly at all");
    dir.write("core.wasm", CORE_MODULE);
    dir.write("truncated.wasm", &std::fs::read(example("say_hello")).unwrap()[..2000]);
    dir.add("command.wasm", &test_plugin("not_a_plugin"));
    dir.add("definitions_trap.wasm", &test_plugin("raw-trap-definitions"));
    dir.add("empty_name.wasm", &test_plugin("raw-empty-name"));
    dir.add("duplicate_names.wasm", &test_plugin("raw-duplicate-names"));
    dir.add("two_dynamic.wasm", &test_plugin("raw-two-dynamic"));
    dir.add("no_definitions.wasm", &test_plugin("raw-no-definitions"));
    dir.add("m_dynamic_greeting.wasm", &example("dynamic_greeting"));
    dir.add("z_raw_dynamic.wasm", &test_plugin("raw"));
    dir.add("z_say_hello_again.wasm", &example("say_hello"));
    dir.write("notes.txt", b"not a plugin, not even looked at");

    let registry = load(&dir).await;
    let reasons: std::collections::HashMap<String, String> = registry
        .refused()
        .iter()
        .map(|r| (r.path.file_name().unwrap().to_string_lossy().into_owned(), r.reason.clone()))
        .collect();
    let reason = |file: &str| reasons.get(file).unwrap_or_else(|| panic!("{file} was not refused: {reasons:?}"));

    assert!(reason("corrupt.wasm").starts_with("not a WebAssembly file"));
    assert!(reason("core.wasm").starts_with("is a core WebAssembly module, not a component"));
    assert!(reason("truncated.wasm").starts_with("is not a valid component"));
    assert!(
        reason("command.wasm").contains("does not export activity-host:plugin/activities@0.1.0"),
        "{}",
        reason("command.wasm")
    );
    assert!(reason("command.wasm").contains("wasi:cli/run"));
    assert!(reason("definitions_trap.wasm").starts_with("definitions() failed: Panic"));
    assert!(reason("definitions_trap.wasm").contains("definitions() refuses to answer"));
    assert_eq!(reason("empty_name.wasm"), "an activity has an empty name");
    assert_eq!(reason("duplicate_names.wasm"), "More than one activity named twice");
    assert!(reason("two_dynamic.wasm").starts_with("More than one dynamic activity"));
    assert_eq!(
        reason("no_definitions.wasm"),
        "definitions() returned no activities: name at least one #[activity::defn] function in `activity::export!(...)`"
    );
    // Only its dynamic entry is refused: its named activity is served.
    assert!(!reasons.contains_key("z_raw_dynamic.wasm"), "{reasons:?}");
    let [dropped] = registry.dropped() else { panic!("{:?}", registry.dropped()) };
    assert!(dropped.path.ends_with("z_raw_dynamic.wasm") && dropped.name == "raw_echo", "{dropped:?}");
    assert!(dropped.reason.contains("m_dynamic_greeting.wasm"), "{}", dropped.reason);
    assert!(dropped.reason.contains("at most one"), "{}", dropped.reason);
    assert_eq!(registry.resolve("raw_named").unwrap().name(), "z_raw_dynamic.wasm");
    let duplicate = reason("z_say_hello_again.wasm");
    assert!(duplicate.contains("say_hello_activity") && duplicate.contains("a_say_hello.wasm"), "{duplicate}");
    for r in reasons.values() {
        assert!(!r.contains('\n'), "a refusal is one line: {r}");
    }
    assert_eq!(reasons.len(), 10);

    assert_eq!(completed(call(&registry, "say_hello_activity", &[r#""World""#]).await), r#""Hello, World!""#);
    assert_eq!(registry.dynamic().unwrap().name(), "m_dynamic_greeting.wasm");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_directory_is_an_error_not_an_empty_registry() {
    let err = runtime(Limits::default()).load_dir(std::path::Path::new("/nonexistent/plugins")).await;
    assert!(err.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_message_reaches_the_failure() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    let failure = failed(call(&registry, "panic", &[r#""the card was declined""#]).await);
    assert_eq!(failure.error_type, kind::PANIC);
    assert!(failure.message.contains("the card was declined"), "{}", failure.message);
    assert!(failure.message.starts_with("panicked at "), "{}", failure.message);
    assert!(failure.stack_trace.contains("the card was declined"));
}

#[tokio::test(flavor = "multi_thread")]
async fn application_errors_pass_through_unchanged() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    let failure = failed(call(&registry, "fail", &[r#""insufficient funds""#]).await);
    assert_eq!(failure.message, "insufficient funds");
    assert_eq!(failure.error_type, "CardDeclined");
    assert!(failure.non_retryable);
    assert_eq!(failure.next_retry_delay, Some(Duration::from_secs(3)));
    let details: Vec<String> = failure.details.iter().map(Payload::to_json_text).collect();
    assert_eq!(details, [r#"{"code":51}"#, r#""second detail""#]);
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_that_do_not_decode_fail_retryably() {
    let dir = examples_dir();
    let registry = load(&dir).await;
    let failure = failed(call(&registry, "your_activity", &[r#"{"greeting":"Hello"}"#]).await);
    assert_eq!(failure.error_type, "DecodeError");
    assert!(failure.message.starts_with("Failed decoding arguments"), "{}", failure.message);
    assert!(failure.message.contains("missing field `name`"), "{}", failure.message);
    assert!(!failure.non_retryable);
}

#[tokio::test(flavor = "multi_thread")]
async fn positional_parameters_map_one_payload_each() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    assert_eq!(completed(call(&registry, "add", &["40", "2"]).await), "42");
    assert_eq!(completed(call(&registry, "greet", &[r#""Ada""#]).await), r#""Hello, Ada!""#);
    assert_eq!(completed(call(&registry, "greet", &[r#""Ada""#, r#""?""#]).await), r#""Hello, Ada?""#);
    let too_few = failed(call(&registry, "add", &["40"]).await);
    assert_eq!(too_few.message, "Failed decoding arguments: add takes 2 arguments but 1 was given");
    let too_many = failed(call(&registry, "add", &["1", "2", "3"]).await);
    assert_eq!(too_many.message, "Failed decoding arguments: add takes 2 arguments but 3 were given");
}

#[tokio::test(flavor = "multi_thread")]
async fn results_use_the_default_converters_encodings() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    let Outcome::Completed(null) = call(&registry, "nothing", &[]).await else { panic!() };
    assert_eq!(null.encoding(), Some("binary/null"));
    let Outcome::Completed(bytes) = call(&registry, "bytes", &[r#""hi""#]).await else { panic!() };
    assert_eq!((bytes.encoding(), bytes.data.as_slice()), (Some("binary/plain"), &b"hi"[..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_execution_gets_a_fresh_instance() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    for _ in 0..3 {
        assert_eq!(completed(call(&registry, "count", &[]).await), "1");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_payloads_reach_the_plugin_untouched() {
    let dir = TempDir::new();
    dir.add("raw.wasm", &test_plugin("raw"));
    let registry = load(&dir).await;
    let custom = Payload {
        metadata: vec![("encoding".into(), b"json/plain".to_vec()), ("messageType".into(), b"acme.Order".to_vec())],
        data: br#"{"id": 7}"#.to_vec(),
    };
    let outcome = registry.execute(Request::local("any_name", vec![custom])).await;
    let seen: serde_json::Value = serde_json::from_str(&completed(outcome)).unwrap();
    assert_eq!(seen["activity_type"], "any_name");
    assert_eq!(seen["args"][0]["metadata"]["messageType"], "acme.Order");
    assert_eq!(seen["args"][0]["data"], r#"{"id": 7}"#);
}

#[tokio::test(flavor = "multi_thread")]
async fn info_describes_the_execution() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    let request = Request::local("info", vec![]).with_timeout(Duration::from_secs(7));
    let id = request.info.activity_id.clone();
    let seen: serde_json::Value = serde_json::from_str(&completed(registry.execute(request).await)).unwrap();
    assert_eq!(seen["activity_type"], "info");
    assert_eq!(seen["activity_id"], id.as_str());
    assert_eq!(seen["attempt"], 1);
    assert_eq!(seen["start_to_close_timeout_ms"], 7000);
    assert!(seen["workflow_id"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spinning_plugin_is_stopped_at_its_deadline_and_the_host_serves_on() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    let started = Instant::now();
    let outcome = registry.execute(Request::local("spin", vec![]).with_timeout(Duration::from_millis(300))).await;
    let failure = failed(outcome);
    assert_eq!(failure.error_type, kind::TIMEOUT);
    assert!(failure.message.contains("300ms"), "{}", failure.message);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(completed(call(&registry, "add", &["1", "1"]).await), "2");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_blocked_in_the_host_is_stopped_at_its_deadline() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    let request = Request::local("sleep", vec![json("60000")]).with_timeout(Duration::from_millis(200));
    // At its deadline, not when its 60 s sleep in the host would have ended:
    // the bound is generous, the difference it guards is a minute.
    let outcome = tokio::time::timeout(Duration::from_secs(10), registry.execute(request))
        .await
        .expect("a plugin waiting in the host is stopped at its deadline, not when the wait ends");
    assert_eq!(failed(outcome).error_type, kind::TIMEOUT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_waiting_in_the_host_that_ignores_cancellation_is_interrupted() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    let request = Request::local("sleep", vec![json("60000")]).with_timeout(Duration::from_secs(120));
    let (cancel, interrupt) = (request.cancel.clone(), request.interrupt.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
        tokio::time::sleep(Duration::from_millis(200)).await;
        interrupt.cancel();
    });
    let outcome = tokio::time::timeout(Duration::from_secs(10), registry.execute(request))
        .await
        .expect("an interrupted plugin stops though it waits in the host");
    assert!(matches!(outcome, Outcome::Cancelled(_)), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_memory_limit_trips_as_out_of_memory() {
    let dir = misbehave_dir();
    let runtime = runtime(Limits { memory: 32 << 20, ..Limits::default() });
    let registry = runtime.load_dir(dir.path()).await.unwrap();
    assert_eq!(completed(call(&registry, "alloc", &["8"]).await), (8 << 20).to_string());
    let failure = failed(call(&registry, "alloc_forever", &[]).await);
    assert_eq!(failure.error_type, kind::OUT_OF_MEMORY);
    assert!(failure.message.contains("32 MiB"), "{}", failure.message);
    assert_eq!(failed(call(&registry, "alloc", &["64"]).await).error_type, kind::OUT_OF_MEMORY);
    assert_eq!(completed(call(&registry, "alloc", &["8"]).await), (8 << 20).to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn unbounded_recursion_is_a_stack_overflow() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    assert_eq!(failed(call(&registry, "recurse", &[]).await).error_type, kind::STACK_OVERFLOW);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_execution_ends_cancelled() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    let request = Request::local("ignore_cancel", vec![]);
    let (cancel, interrupt) = (request.cancel.clone(), request.interrupt.clone());
    let stop = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
        tokio::time::sleep(Duration::from_millis(100)).await;
        interrupt.cancel();
    });
    assert!(matches!(registry.execute(request).await, Outcome::Cancelled(_)));
    stop.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn is_cancelled_turns_true_when_cancellation_is_requested() {
    let dir = misbehave_dir();
    let registry = load(&dir).await;
    let request = Request::local("wait_cancel", vec![]);
    let cancel = request.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let failure = failed(registry.execute(request).await);
    assert_eq!(failure.error_type, "CancelledError");
    let beats: u64 = serde_json::from_slice(&failure.details[0].data).unwrap();
    assert!(beats > 0);
}

/// One CPU-bound plugin on a single-threaded runtime, seen spinning before
/// the short executions start: without epoch yields they could not run
/// until it was stopped at its deadline.
#[tokio::test(flavor = "current_thread")]
async fn a_spinning_plugin_yields_its_only_thread() {
    let dir = misbehave_dir();
    let registry = Arc::new(load(&dir).await);
    let hog = spinning_hog(&registry, Duration::from_secs(5)).await;
    for i in 0..20 {
        assert_eq!(completed(call(&registry, "add", &[&i.to_string(), "1"]).await), (i + 1).to_string());
    }
    assert!(!hog.is_finished(), "the hog ran to its deadline before the short executions got a turn");
    hog.abort();
}

#[test]
fn a_plugins_language_is_read_from_its_producers() {
    use activity_host::toolchain::Toolchain;
    let detect = |path: std::path::PathBuf| Toolchain::detect(&std::fs::read(path).unwrap());
    assert_eq!(detect(example("say_hello")), Some(Toolchain::Rust));
    // componentize-py and componentize-js carry Rust modules of their own.
    assert_eq!(detect(test_plugin("py_activities")), Some(Toolchain::Python));
    assert_eq!(detect(example("python/say_hello")), Some(Toolchain::Python));
    assert_eq!(detect(test_plugin("js_activities")), Some(Toolchain::JavaScript));
    assert_eq!(detect(example("js/your_activity")), Some(Toolchain::JavaScript));
    // A component with no producers says nothing.
    let bare = wat_free_component();
    assert_eq!(Toolchain::detect(&bare), None);
}

/// The smallest component: the header of an empty one.
fn wat_free_component() -> Vec<u8> {
    vec![0, b'a', b's', b'm', 0x0d, 0, 1, 0]
}
