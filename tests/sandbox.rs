//! The sandbox against plugins that try to get out or to take the host down:
//! each case checks the failure a workflow would see, that the host keeps
//! serving, and that nothing outside the grants was read or written.

mod common;

use std::sync::Arc;
use std::time::Duration;

use activity_host::engine::EngineOptions;
use activity_host::failure::kind;
use activity_host::payload::PayloadLimits;
use activity_host::{Limits, Outcome, Payload, Registry, Request, Runtime};
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

async fn load_with(dir: &TempDir, limits: Limits) -> Registry {
    let runtime = Runtime::new(&EngineOptions { max_instances: 32, ..EngineOptions::default() }, limits).unwrap();
    runtime.load_dir(dir.path()).await.unwrap()
}

async fn load(dir: &TempDir) -> Registry {
    load_with(dir, Limits::default()).await
}

async fn call(registry: &Registry, name: &str, args: &[&str]) -> Outcome {
    let args = args.iter().map(|a| Payload::from_json_arg(a).unwrap()).collect();
    registry.execute(Request::local(name, args)).await
}

#[track_caller]
fn completed(outcome: Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Completed(p) => serde_json::from_str(&p.to_json_text()).unwrap(),
        other => panic!("expected a result, got {other:?}"),
    }
}

fn json(value: impl serde::Serialize) -> String {
    serde_json::to_string(&value).unwrap()
}

/// The misbehaving plugin, with `manifest` beside it if given.
fn plugin_dir(manifest: Option<&str>) -> TempDir {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    if let Some(text) = manifest {
        dir.write("misbehave.toml", text.as_bytes());
    }
    dir
}

/// A TCP server on 127.0.0.1 answering each line with "pong".
async fn pong_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = tokio::io::BufReader::new(read).lines();
                while let Ok(Some(_)) = lines.next_line().await {
                    let _ = write.write_all(b"pong\n").await;
                }
            });
        }
    });
    port
}

/// An HTTP server on 127.0.0.1 answering every request with 200 "hello".
async fn http_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ =
                    stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello").await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_manifest_a_plugin_reaches_nothing() {
    let dir = plugin_dir(None);
    let registry = load(&dir).await;
    let outside = std::env::temp_dir().join(format!("activity-host-escape-{}", std::process::id()));

    let read = failed(call(&registry, "read_file", &[&json("/etc/passwd")]).await);
    assert_eq!(read.error_type, "IoError");
    assert!(!read.message.contains("root:"), "{}", read.message);
    let write = failed(call(&registry, "write_file", &[&json(&outside), &json("escaped")]).await);
    assert_eq!(write.error_type, "IoError");
    assert!(!outside.exists(), "the plugin wrote {}", outside.display());

    // SAFETY-free check of the environment: the host process has PATH and HOME.
    assert_eq!(completed(call(&registry, "env", &[]).await), serde_json::json!({}));

    let tcp = pong_server().await;
    let connect = failed(call(&registry, "connect", &[&json(format!("127.0.0.1:{tcp}"))]).await);
    assert_eq!(connect.error_type, "IoError");

    let web = http_server().await;
    let get = failed(call(&registry, "http_get", &[&json(format!("127.0.0.1:{web}")), &json("/")]).await);
    assert_eq!(get.error_type, "HttpError");
    assert!(get.message.contains("HttpRequestDenied"), "{}", get.message);

    assert_eq!(completed(call(&registry, "add", &["1", "2"]).await), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn granted_directories_are_reachable_exactly_as_granted() {
    let data = TempDir::new();
    let read_only = data.path().join("ro");
    let read_write = data.path().join("rw");
    std::fs::create_dir_all(&read_only).unwrap();
    std::fs::create_dir_all(&read_write).unwrap();
    std::fs::write(read_only.join("greeting.txt"), "hello from the host").unwrap();
    let dir = plugin_dir(Some(&format!(
        "[[dirs]]\nhost = {:?}\nguest = \"/ro\"\n\n[[dirs]]\nhost = {:?}\nguest = \"/rw\"\nwrite = true\n",
        read_only, read_write
    )));
    let registry = load(&dir).await;

    assert_eq!(completed(call(&registry, "read_file", &[&json("/ro/greeting.txt")]).await), "hello from the host");
    let write_ro = failed(call(&registry, "write_file", &[&json("/ro/new.txt"), &json("x")]).await);
    assert_eq!(write_ro.error_type, "IoError");
    assert!(!read_only.join("new.txt").exists());

    completed(call(&registry, "write_file", &[&json("/rw/new.txt"), &json("written")]).await);
    assert_eq!(std::fs::read_to_string(read_write.join("new.txt")).unwrap(), "written");

    for escape in ["/rw/../../../etc/passwd", "/etc/passwd", "/ro/../rw/../../x"] {
        let f = failed(call(&registry, "read_file", &[&json(escape)]).await);
        assert!(!f.message.contains("root:"), "{escape}: {}", f.message);
    }
    let outside = data.path().join("outside.txt");
    failed(call(&registry, "write_file", &[&json("/rw/../outside.txt"), &json("x")]).await);
    assert!(!outside.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn only_granted_environment_variables_are_visible() {
    assert!(std::env::var("PATH").is_ok(), "the test needs PATH set");
    let dir = plugin_dir(Some(
        "[env]\nvars = { API_URL = \"https://api.example.com\" }\ninherit = [\"PATH\", \"ACTIVITY_HOST_SURELY_UNSET\"]\n",
    ));
    let registry = load(&dir).await;
    let env = completed(call(&registry, "env", &[]).await);
    let names: Vec<&str> = env.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(names, ["API_URL", "PATH"]);
    assert_eq!(env["PATH"], std::env::var("PATH").unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_reaches_allowed_hosts_only() {
    let allowed = http_server().await;
    let other = http_server().await;
    let dir = plugin_dir(Some(&format!("[http]\nallow = [\"127.0.0.1:{allowed}\"]\n")));
    let registry = load(&dir).await;
    let authority = |port: u16| json(format!("127.0.0.1:{port}"));
    assert_eq!(completed(call(&registry, "http_get", &[&authority(allowed), &json("/x")]).await), "200 hello");
    let denied = failed(call(&registry, "http_get", &[&authority(other), &json("/x")]).await);
    assert!(denied.message.contains("HttpRequestDenied"), "{}", denied.message);
    let by_name = failed(call(&registry, "http_get", &[&json(format!("localhost:{allowed}")), &json("/")]).await);
    assert!(by_name.message.contains("HttpRequestDenied"), "{}", by_name.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_tcp_reaches_listed_addresses_only() {
    let allowed = pong_server().await;
    let other = pong_server().await;
    let dir = plugin_dir(Some(&format!("[tcp]\nconnect = [\"127.0.0.1:{allowed}\"]\n")));
    let registry = load(&dir).await;
    assert_eq!(completed(call(&registry, "connect", &[&json(format!("127.0.0.1:{allowed}"))]).await), "pong");
    let denied = failed(call(&registry, "connect", &[&json(format!("127.0.0.1:{other}"))]).await);
    assert_eq!(denied.error_type, "IoError");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_symlink_in_a_granted_directory_leads_nowhere_outside_it() {
    let data = TempDir::new();
    let granted = data.path().join("granted");
    std::fs::create_dir_all(&granted).unwrap();
    let secret = data.path().join("secret.txt");
    std::fs::write(&secret, "outside the grant").unwrap();
    std::fs::write(granted.join("inside.txt"), "inside the grant").unwrap();
    std::os::unix::fs::symlink(&secret, granted.join("absolute")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", granted.join("relative")).unwrap();
    std::os::unix::fs::symlink("inside.txt", granted.join("sibling")).unwrap();
    let dir = plugin_dir(Some(&format!("[[dirs]]\nhost = {granted:?}\nguest = \"/data\"\nwrite = true\n")));
    let registry = load(&dir).await;

    // A link that stays inside the grant is followed, as on any file system ...
    assert_eq!(completed(call(&registry, "read_file", &[&json("/data/sibling")]).await), "inside the grant");
    // ... one that leads out of it is refused, whichever way it is written.
    for link in ["/data/absolute", "/data/relative"] {
        let refused = failed(call(&registry, "read_file", &[&json(link)]).await);
        assert_eq!(refused.error_type, "IoError", "{link}");
        assert!(!refused.message.contains("outside the grant"), "{link}: {}", refused.message);
        failed(call(&registry, "write_file", &[&json(link), &json("overwritten")]).await);
    }
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "outside the grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tcp_grant_allows_connecting_only_never_udp_or_listening() {
    let allowed = pong_server().await;
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let dir = plugin_dir(Some(&format!("[tcp]\nconnect = [\"127.0.0.1:{allowed}\", \"127.0.0.1:{udp_port}\"]\n")));
    let registry = load(&dir).await;
    assert_eq!(completed(call(&registry, "connect", &[&json(format!("127.0.0.1:{allowed}"))]).await), "pong");

    // The granted address is no grant to send it datagrams ...
    let sent = failed(call(&registry, "udp_send", &[&json(format!("127.0.0.1:{udp_port}"))]).await);
    assert_eq!(sent.error_type, "IoError");
    udp.set_nonblocking(true).unwrap();
    assert!(udp.recv(&mut [0; 16]).is_err(), "no datagram arrived");
    // ... nor to listen, on a granted address, on a loopback port, or on
    // the ephemeral port a connect may bind.
    for address in [format!("127.0.0.1:{allowed}"), "127.0.0.1:0".to_string(), "0.0.0.0:0".to_string()] {
        let listened = failed(call(&registry, "listen", &[&json(&address)]).await);
        assert_eq!(listened.error_type, "IoError", "{address}: {}", listened.message);
    }
    // A socket may be bound only as a connect binds it: any address, port 0.
    // A chosen port, even unlistened, would hold it on the host.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    assert!(completed(call(&registry, "bind", &[&json("0.0.0.0:0")]).await).as_str().unwrap().starts_with("0.0.0.0:"));
    for address in [format!("0.0.0.0:{free}"), format!("127.0.0.1:{free}"), "127.0.0.1:0".to_string()] {
        let bound = failed(call(&registry, "bind", &[&json(&address)]).await);
        assert_eq!(bound.error_type, "IoError", "{address}: {}", bound.message);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn names_are_looked_up_only_when_a_granted_entry_is_a_name() {
    let port = pong_server().await;
    let by_address = plugin_dir(Some(&format!("[tcp]\nconnect = [\"127.0.0.1:{port}\"]\n")));
    let registry = load(&by_address).await;
    let refused = failed(call(&registry, "resolve", &[&json("localhost")]).await);
    assert_eq!(refused.error_type, "IoError", "{}", refused.message);

    let by_name = plugin_dir(Some(&format!("[tcp]\nconnect = [\"localhost:{port}\"]\n")));
    let registry = load(&by_name).await;
    let found = completed(call(&registry, "resolve", &[&json("localhost")]).await);
    assert!(found.as_array().unwrap().iter().any(|a| a == "127.0.0.1" || a == "::1"), "{found}");
    assert_eq!(completed(call(&registry, "connect", &[&json(format!("localhost:{port}"))]).await), "pong");
}

#[tokio::test(flavor = "multi_thread")]
async fn payloads_over_temporals_limits_fail_with_the_sizes() {
    let dir = plugin_dir(None);
    let registry = load(&dir).await;
    let result = failed(call(&registry, "big_result", &["3"]).await);
    assert_eq!(result.error_type, kind::PAYLOADS_TOO_LARGE);
    assert!(result.message.starts_with("the result is 3.0 MiB"), "{}", result.message);
    assert!(result.message.contains("over the 2 MiB (2097152 bytes) limit"), "{}", result.message);

    let big = json("x".repeat(3 << 20));
    let args = failed(call(&registry, "greet", &[&big]).await);
    assert_eq!(args.error_type, kind::PAYLOADS_TOO_LARGE);
    assert!(args.message.starts_with("the arguments is"), "{}", args.message);
    let half = json("x".repeat(1_500_000));
    let total = failed(call(&registry, "greet", &[&half, &half, &half]).await);
    assert!(total.message.starts_with("the arguments total"), "{}", total.message);

    let heartbeat = failed(call(&registry, "heartbeat_big", &["3"]).await);
    assert_eq!(heartbeat.error_type, kind::PAYLOADS_TOO_LARGE);
    assert!(heartbeat.message.starts_with("heartbeat details is 3.0 MiB"), "{}", heartbeat.message);

    // The limits are the host's to set.
    let small =
        load_with(&dir, Limits { payloads: PayloadLimits { single: 1 << 20, total: 2 << 20 }, ..Limits::default() })
            .await;
    assert_eq!(failed(call(&small, "big_result", &["1"]).await).error_type, kind::PAYLOADS_TOO_LARGE);
    assert_eq!(completed(call(&registry, "big_result", &["1"]).await).as_object().unwrap()["encoding"], "binary/plain");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_guest_output_fails_that_execution_only() {
    let dir = TempDir::new();
    dir.add("raw.wasm", &test_plugin("raw"));
    let registry = load(&dir).await;
    for (name, reason) in [
        ("duplicate_metadata", "metadata key \"encoding\" appears twice"),
        ("no_encoding", "it has no \"encoding\" metadata"),
        ("not_json", "its data is not the JSON its encoding json/plain says"),
    ] {
        let f = failed(registry.execute(Request::local(name, vec![])).await);
        assert_eq!(f.error_type, kind::INVALID_PAYLOAD, "{name}");
        assert!(f.message.ends_with(reason), "{name}: {}", f.message);
    }
    assert!(matches!(registry.execute(Request::local("anything", vec![])).await, Outcome::Completed(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_heartbeat_storm_and_a_flood_of_output_are_absorbed() {
    let dir = plugin_dir(None);
    let registry = load_with(&dir, Limits { output: 64 << 10, ..Limits::default() }).await;
    assert_eq!(completed(call(&registry, "heartbeat_storm", &["200000"]).await), 200000);
    assert_eq!(completed(call(&registry, "print_lots", &["16"]).await), 16);
    assert_eq!(completed(call(&registry, "add", &["2", "2"]).await), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn fuel_and_stack_limits_from_a_manifest_apply() {
    let dir = plugin_dir(Some("[limits]\nfuel = 5000000\nmax_stack = \"128KiB\"\n"));
    let registry = load(&dir).await;
    let plugin = registry.resolve("spin").unwrap();
    assert_eq!(plugin.limits().fuel, Some(5_000_000));
    assert_eq!(failed(call(&registry, "spin", &[]).await).error_type, kind::OUT_OF_FUEL);
    assert_eq!(failed(call(&registry, "recurse", &[]).await).error_type, kind::STACK_OVERFLOW);
    assert_eq!(completed(call(&registry, "add", &["2", "3"]).await), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_can_cap_the_timeout_a_task_asks_for() {
    let dir = plugin_dir(Some("[limits]\nmax_timeout = \"300ms\"\n"));
    let registry = load(&dir).await;
    let request = Request::local("spin", vec![]).with_timeout(Duration::from_secs(60));
    let f = failed(registry.execute(request).await);
    assert_eq!(f.error_type, kind::TIMEOUT);
    assert!(f.message.contains("300ms"), "{}", f.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_manifests_refuse_their_plugin_with_file_key_and_reason() {
    let dir = TempDir::new();
    dir.add("a.wasm", &test_plugin("misbehave"));
    dir.write("a.toml", b"[limits]\nmemroy = \"1GiB\"\n");
    dir.add("b.wasm", &example("say_hello"));
    dir.write("b.toml", b"[[dirs]]\nhost = \"/nonexistent/data\"\nguest = \"/data\"\n");
    dir.add("c.wasm", &example("your_activity"));
    dir.write("c.toml", b"[limits]\nfuel = \"plenty\"\n");
    dir.add("d.wasm", &example("my_activity"));
    let registry = load(&dir).await;
    let reason =
        |f: &str| registry.refused().iter().find(|r| r.path.ends_with(f)).map(|r| r.reason.clone()).unwrap_or_default();
    assert!(reason("a.wasm").ends_with("a.toml: key `limits.memroy`: unknown field `memroy`, expected one of `memory`, `timeout`, `max_timeout`, `fuel`, `max_stack`, `output`"), "{}", reason("a.wasm"));
    assert!(
        reason("b.wasm").ends_with("b.toml: key `dirs[0].host`: /nonexistent/data does not exist"),
        "{}",
        reason("b.wasm")
    );
    assert!(reason("c.wasm").contains("c.toml: key `limits.fuel`: invalid type"), "{}", reason("c.wasm"));
    assert_eq!(registry.plugins().len(), 1);
    assert_eq!(completed(call(&registry, "my-activity", &["\"X\""]).await), "Hello, X!");
}

#[tokio::test(flavor = "multi_thread")]
async fn definitions_that_trap_or_declare_too_much_are_refused() {
    let dir = TempDir::new();
    dir.add("trap.wasm", &test_plugin("raw-trap-definitions"));
    dir.add("many.wasm", &test_plugin("raw-many-names"));
    dir.add("say_hello.wasm", &example("say_hello"));
    let registry = load(&dir).await;
    let reasons: Vec<&str> = registry.refused().iter().map(|r| r.reason.as_str()).collect();
    assert!(reasons[0].starts_with("definitions() returned 100000 activities; a plugin may declare at most 10000"));
    assert!(reasons[1].starts_with("definitions() failed: Panic"));
    assert_eq!(completed(call(&registry, "say_hello_activity", &["\"World\""]).await), "Hello, World!");
}

fn resident_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() << 10
}

/// Every adversarial execution leaves the host's memory where it was: their
/// instances, memories and buffers are freed however they ended.
#[tokio::test(flavor = "multi_thread")]
async fn memory_returns_to_its_baseline_after_misbehaviour() {
    let dir = plugin_dir(None);
    let registry = Arc::new(load_with(&dir, Limits { memory: 64 << 20, ..Limits::default() }).await);
    let round = || async {
        for (name, args) in [
            ("alloc_forever", vec![]),
            ("big_result", vec!["3"]),
            ("print_lots", vec!["2"]),
            ("panic", vec!["\"boom\""]),
            ("heartbeat_storm", vec!["10000"]),
            ("recurse", vec![]),
        ] {
            call(&registry, name, &args).await;
        }
        registry.execute(Request::local("spin", vec![]).with_timeout(Duration::from_millis(50))).await;
    };
    round().await;
    let baseline = resident_memory();
    for _ in 0..10 {
        round().await;
    }
    let grown = resident_memory().saturating_sub(baseline);
    assert!(grown < 48 << 20, "resident memory grew by {} MiB over 10 rounds", grown >> 20);
}

/// A plugin in WebAssembly text: `grow_table(n)` grows its table by `n`
/// elements with `table.grow`, which answers -1 instead of trapping when
/// refused, and returns "grown" or "refused". No guest language's compiler
/// emits `table.grow` on demand, so the module is written by hand and made a
/// component from the WIT, as `wasm-tools component new` would.
fn table_grower() -> Vec<u8> {
    let module = wat::parse_str(
        r#"(module
          (memory (export "memory") 1)
          (table $t 1 funcref)
          (global $heap (mut i32) (i32.const 4096))
          (data (i32.const 512) "grow_table")
          (data (i32.const 544) "encoding")
          (data (i32.const 560) "json/plain")
          (data (i32.const 576) "\"refused\"")
          (data (i32.const 592) "\"grown\"")

          ;; A bump allocator: an instance serves one execution.
          (func (export "cabi_realloc") (param i32 i32) (param $align i32) (param $size i32) (result i32)
            (local $p i32)
            (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                                   (i32.sub (i32.const 0) (local.get $align))))
            (global.set $heap (i32.add (local.get $p) (local.get $size)))
            (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
              (then (drop (memory.grow (i32.add (i32.shr_u (global.get $heap) (i32.const 16)) (i32.const 1))))))
            (local.get $p))

          ;; definitions() -> list<activity-definition>: one, "grow_table".
          (func (export "activity-host:plugin/activities@0.1.0#definitions") (result i32)
            (i32.store (i32.const 256) (i32.const 512))   ;; name.ptr
            (i32.store (i32.const 260) (i32.const 10))    ;; name.len
            (i32.store8 (i32.const 264) (i32.const 0))    ;; dynamic
            (i32.store (i32.const 384) (i32.const 256))   ;; list.ptr
            (i32.store (i32.const 388) (i32.const 1))     ;; list.len
            (i32.const 384))

          ;; execute(name, args) -> result<payload, application-error>: the
          ;; first argument's JSON digits are the elements to grow by.
          (func (export "activity-host:plugin/activities@0.1.0#execute")
                (param i32 i32) (param $args i32) (param i32) (result i32)
            (local $data i32) (local $len i32) (local $i i32) (local $n i32)
            (local.set $data (i32.load offset=8 (local.get $args)))
            (local.set $len (i32.load offset=12 (local.get $args)))
            (block $done (loop $digit
              (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
              (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10))
                                     (i32.sub (i32.load8_u (i32.add (local.get $data) (local.get $i))) (i32.const 48))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $digit)))
            ;; metadata: [("encoding", "json/plain")]
            (i32.store (i32.const 640) (i32.const 544)) (i32.store (i32.const 644) (i32.const 8))
            (i32.store (i32.const 648) (i32.const 560)) (i32.store (i32.const 652) (i32.const 10))
            (i32.store8 (i32.const 768) (i32.const 0))    ;; ok
            (i32.store (i32.const 776) (i32.const 640))   ;; payload.metadata.ptr
            (i32.store (i32.const 780) (i32.const 1))     ;; payload.metadata.len
            (if (i32.eq (table.grow $t (ref.null func) (local.get $n)) (i32.const -1))
              (then (i32.store (i32.const 784) (i32.const 576)) (i32.store (i32.const 788) (i32.const 9)))
              (else (i32.store (i32.const 784) (i32.const 592)) (i32.store (i32.const 788) (i32.const 7))))
            (i32.const 768)))"#,
    )
    .expect("the module parses");
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(repo_sources().join("wit")).expect("the WIT parses");
    let world = resolve.select_world(&[package], Some("plugin")).expect("the plugin world");
    let mut module = module;
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8, false)
        .expect("the WIT embeds");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|e| e.validate(true).encode())
        .expect("the module becomes a component")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_grown_past_the_hosts_bound_fails_inside_the_plugin() {
    let dir = TempDir::new();
    dir.write("tables.wasm", &table_grower());
    let registry = load(&dir).await;
    // Within the bounds a table grows; past them, table.grow answers -1 to
    // the plugin, which goes on and completes, and the host serves on. The
    // instance pool's slot holds 200,000 elements; the memory limiter
    // refuses more than 2^20 whatever the allocator.
    assert_eq!(completed(call(&registry, "grow_table", &["1000"]).await), "grown");
    assert_eq!(completed(call(&registry, "grow_table", &["500000"]).await), "refused");
    assert_eq!(completed(call(&registry, "grow_table", &["10000000"]).await), "refused");
    assert_eq!(completed(call(&registry, "grow_table", &["1000"]).await), "grown");
}
