//! The `host` binary as a user runs it: output, exit codes, error lines.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn host(args: &[&str], plugins: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host"))
        .args(args)
        .env("ACTIVITY_HOST_PLUGINS", plugins)
        .env("ACTIVITY_HOST_CACHE_DIR", cache_dir())
        .env_remove("RUST_LOG")
        .output()
        .expect("the host binary runs")
}

/// One compilation cache for the whole test run, under target/.
fn cache_dir() -> std::path::PathBuf {
    repo().join("target/cache")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(o), stderr(o));
}

#[test]
fn the_readme_calls_print_their_results() {
    let dir = examples_dir();
    let params = r#"{"greeting":"Hello","name":"World"}"#;
    for (args, expected) in [
        (vec!["call", "your_activity", params], "\"Hello, World!\"\n"),
        (vec!["call", "say_hello_activity", "\"World\""], "\"Hello, World!\"\n"),
        (vec!["call", "my-activity", "\"World\""], "\"Hello, World!\"\n"),
        (vec!["call", "unregistered_activity", params], "\"Hello, World!\\nActivity Type: unregistered_activity\"\n"),
    ] {
        let o = host(&args, dir.path());
        assert_exit(&o, 0);
        assert_eq!(stdout(&o), expected);
    }
}

#[test]
fn plugins_flag_overrides_the_environment() {
    let dir = examples_dir();
    let o = Command::new(env!("CARGO_BIN_EXE_host"))
        .args(["call", "say_hello_activity", "\"World\"", "--plugins"])
        .arg(dir.path())
        .env("ACTIVITY_HOST_PLUGINS", "/nonexistent")
        .output()
        .unwrap();
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "\"Hello, World!\"\n");
}

#[test]
fn a_null_result_prints_null() {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    let o = host(&["call", "nothing"], dir.path());
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "null\n");
}

#[test]
fn an_activity_failure_exits_1_with_the_failure_on_stderr() {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    let o = host(&["call", "fail", "\"insufficient funds\""], dir.path());
    assert_exit(&o, 1);
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(err.contains("activity failed: insufficient funds"), "{err}");
    assert!(err.contains("type: CardDeclined"), "{err}");
    assert!(err.contains("non-retryable: true"), "{err}");
    assert!(err.contains(r#"details: [{"code":51}, "second detail"]"#), "{err}");
}

#[test]
fn a_panic_reaches_the_user() {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    let o = host(&["call", "panic", "\"the card was declined\""], dir.path());
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("type: Panic"), "{err}");
    assert!(err.contains("the card was declined"), "{err}");
}

#[test]
fn the_timeout_flag_stops_a_spinning_plugin() {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    let o = host(&["call", "spin", "--timeout", "250ms"], dir.path());
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("type: Timeout"), "{}", stderr(&o));
}

#[test]
fn the_memory_limit_flag_applies() {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    let o = host(&["call", "alloc", "64", "--memory-limit", "32MiB"], dir.path());
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("type: OutOfMemory"), "{}", stderr(&o));
    assert_exit(&host(&["call", "alloc", "64", "--memory-limit", "128MiB"], dir.path()), 0);
}

#[test]
fn unknown_activities_fail_with_not_found() {
    let dir = TempDir::new();
    dir.add("say_hello.wasm", &example("say_hello"));
    let o = host(&["call", "nope"], dir.path());
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("type: NotFoundError"), "{err}");
    assert!(
        err.contains(
            "Activity function nope is not registered on this worker, available activities: say_hello_activity"
        ),
        "{err}"
    );
}

#[test]
fn plugin_output_goes_to_the_log_with_its_origin() {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    let o = host(&["call", "print", "2"], dir.path());
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "2\n", "plugin output must not reach stdout");
    let err = stderr(&o);
    for line in ["stdout line 0", "stdout line 1", "a line on stderr", "a log record from the plugin"] {
        let logged = err.lines().find(|l| l.contains(line)).unwrap_or_else(|| panic!("{line} not logged: {err}"));
        assert!(
            logged.contains("misbehave.wasm")
                && (logged.contains("activity=\"print\"") || logged.contains("activity=print")),
            "{logged}"
        );
    }
}

#[test]
fn bad_arguments_are_one_clear_line_and_exit_2() {
    let dir = examples_dir();
    let o = host(&["call", "say_hello_activity", "World"], dir.path());
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: argument 1 is not JSON"), "{err}");
    assert!(err.contains("'\"World\"'"), "{err}");
}

#[test]
fn an_object_with_bare_keys_is_answered_with_its_keys_quoted() {
    let dir = examples_dir();
    for (arg, fixed) in
        [("{id:7}", r#"'{"id":7}'"#), ("{greeting: Hello, name: World}", r#"'{"greeting": "Hello", "name": "World"}'"#)]
    {
        let o = host(&["call", "your_activity", arg], dir.path());
        assert_exit(&o, 2);
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("quote the keys"), "{err}");
        assert!(err.contains(fixed), "{err}");
        assert!(!err.contains(&format!("'\"{arg}\"'")), "the object must not become a string: {err}");
    }
}

#[test]
fn a_missing_plugin_directory_exits_2() {
    for command in [&["call", "x"][..], &["list"][..]] {
        let o = host(command, Path::new("/nonexistent/plugins"));
        assert_exit(&o, 2);
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains("cannot read plugin directory /nonexistent/plugins"), "{}", stderr(&o));
    }
}

#[test]
fn usage_errors_exit_2() {
    let dir = examples_dir();
    assert_exit(&host(&[], dir.path()), 2);
    assert_exit(&host(&["call"], dir.path()), 2);
    assert_exit(&host(&["call", "x", "--timeout", "soon"], dir.path()), 2);
    assert_exit(&host(&["frobnicate"], dir.path()), 2);
    assert_exit(&host(&["check"], dir.path()), 2);
}

#[test]
fn an_unknown_grpc_compression_is_refused_before_connecting() {
    let dir = examples_dir();
    let out = host(&["run", "--task-queue", "q", "--grpc-compression", "zstd"], dir.path());
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("invalid value 'zstd' for '--grpc-compression"), "{err}");
    assert!(err.contains("[possible values: gzip, none]"), "{err}");
}

#[test]
fn resource_based_slots_and_a_fixed_count_are_one_or_the_other() {
    let dir = examples_dir();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--task-queue", "q", "--address", "127.0.0.1:1"];
        args.extend_from_slice(extra);
        host(&args, dir.path())
    };
    let both = run(&["--target-memory-usage", "0.8", "--target-cpu-usage", "0.9", "--max-concurrent-activities", "5"]);
    assert_exit(&both, 2);
    assert!(stderr(&both).contains("cannot be used with '--max-concurrent-activities"), "{}", stderr(&both));
    let half = run(&["--target-memory-usage", "0.8"]);
    assert_exit(&half, 2);
    assert!(stderr(&half).contains("--target-cpu-usage <F>"), "{}", stderr(&half));
    let out_of_range = run(&["--target-memory-usage", "80", "--target-cpu-usage", "0.9"]);
    assert_exit(&out_of_range, 2);
    assert!(
        stderr(&out_of_range).contains("must be a fraction greater than 0 and at most 1"),
        "{}",
        stderr(&out_of_range)
    );
    let bad_size = run(&["--max-memory", "lots"]);
    assert_exit(&bad_size, 2);
    assert!(stderr(&bad_size).contains("invalid value 'lots' for '--max-memory"), "{}", stderr(&bad_size));
}

#[test]
fn list_shows_names_kinds_files_and_refusals() {
    let dir = examples_dir();
    dir.write("broken.wasm", b"garbage");
    let o = host(&["list"], dir.path());
    // Everything that loaded is listed, and the refusal fails the command.
    assert_exit(&o, 1);
    let out = stdout(&o);
    let row = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{out}"))
            .to_string()
    };
    assert!(row("your_activity").contains("activity") && row("your_activity").ends_with("your_activity.wasm"));
    assert!(row("my-activity").ends_with("my_activity.wasm"));
    assert!(row("say_hello_activity").ends_with("say_hello.wasm"));
    assert!(row("dynamic_greeting").contains("dynamic") && row("dynamic_greeting").ends_with("dynamic_greeting.wasm"));
    assert!(out.contains("broken.wasm: not a WebAssembly file"), "{out}");
}

#[test]
fn check_reports_each_file_and_fails_on_any_refusal() {
    let dir = TempDir::new();
    let good = dir.add("your_activity.wasm", &example("your_activity"));
    let core = dir.write("core.wasm", CORE_MODULE);
    let command = dir.add("command.wasm", &test_plugin("not_a_plugin"));
    let as_str = |p: &Path| p.to_string_lossy().into_owned();

    let o = host(&["check", &as_str(&good)], dir.path());
    assert_exit(&o, 0);
    assert!(stdout(&o).starts_with(&format!("{}: ok: your_activity", good.display())), "{}", stdout(&o));

    let o = host(&["check", &as_str(&good), &as_str(&core), &as_str(&command)], dir.path());
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert_eq!(out.lines().filter(|l| !l.starts_with("  ")).count(), 3, "{out}");
    assert!(out.contains(&format!("{}: refused: is a core WebAssembly module", core.display())), "{out}");
    assert!(
        out.contains(&format!("{}: refused: does not fit the activity-host:plugin world", command.display())),
        "{out}"
    );
}

#[test]
fn check_applies_the_rules_across_the_files_given() {
    let dir = TempDir::new();
    let first = dir.add("dynamic_greeting.wasm", &example("dynamic_greeting"));
    let second = dir.add("raw.wasm", &test_plugin("raw"));
    let third = dir.add("zz_dynamic_greeting.wasm", &example("dynamic_greeting"));
    let o = host(&["check", &first.to_string_lossy(), &second.to_string_lossy(), &third.to_string_lossy()], dir.path());
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(out.contains("dynamic_greeting.wasm: ok: dynamic_greeting (dynamic)"), "{out}");
    // Served without its dynamic entry, which is named as refused.
    assert!(out.contains("raw.wasm: ok: raw_named ("), "{out}");
    assert!(
        out.contains(&format!(
            "  refused: its dynamic activity raw_echo: {} already has the dynamic activity dynamic_greeting",
            first.display()
        )),
        "{out}"
    );
    // A plugin left with nothing to serve is refused whole.
    assert!(
        out.contains("zz_dynamic_greeting.wasm: refused: its dynamic activity dynamic_greeting would be a second one"),
        "{out}"
    );
}

#[test]
fn a_second_dynamic_activity_is_dropped_and_its_plugins_named_activities_served() {
    let dir = TempDir::new();
    let holder = dir.add("a_dynamic_greeting.wasm", &example("dynamic_greeting"));
    dir.add("b_raw.wasm", &test_plugin("raw"));
    let o = host(&["list"], dir.path());
    assert_exit(&o, 1);
    let out = stdout(&o);
    let row = |name: &str| out.lines().find(|l| l.split_whitespace().next() == Some(name)).map(str::to_string);
    assert!(row("raw_named").is_some_and(|r| r.contains("activity") && r.ends_with("b_raw.wasm")), "{out}");
    assert!(row("dynamic_greeting").is_some_and(|r| r.ends_with("a_dynamic_greeting.wasm")), "{out}");
    assert!(row("raw_echo").is_none(), "{out}");
    let refused = out.split("\nrefused:\n").nth(1).unwrap_or_else(|| panic!("no refused section: {out}"));
    assert!(
        refused.contains(&format!(
            "b_raw.wasm: dynamic activity raw_echo not served: {} already has the dynamic activity dynamic_greeting",
            holder.display()
        )),
        "{out}"
    );

    let o = host(&["call", "raw_named", "1"], dir.path());
    assert_exit(&o, 0);
    assert!(stdout(&o).contains(r#""activity_type":"raw_named""#), "{}", stdout(&o));
    let o = host(&["call", "nobody_registers_this", r#"{"greeting":"Hello","name":"World"}"#], dir.path());
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "\"Hello, World!\\nActivity Type: nobody_registers_this\"\n");
    // The run's log (`call` shows warnings) says what was dropped.
    assert!(
        stderr(&o).contains("dynamic activity raw_echo not served (the plugin's other activities are)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn list_and_check_of_a_directory_exit_1_after_printing_what_loaded() {
    let dir = TempDir::new();
    let good = dir.add("say_hello.wasm", &example("say_hello"));
    let as_str = |p: &Path| p.to_string_lossy().into_owned();

    let o = host(&["list"], dir.path());
    assert_exit(&o, 0);
    let o = host(&["check", &as_str(dir.path())], dir.path());
    assert_exit(&o, 0);
    assert!(stdout(&o).starts_with(&format!("{}: ok: say_hello_activity", good.display())), "{}", stdout(&o));

    let bad = dir.write("broken.wasm", b"garbage");
    let o = host(&["list"], dir.path());
    assert_exit(&o, 1);
    assert!(stdout(&o).contains("say_hello_activity  activity"), "{}", stdout(&o));
    assert!(stdout(&o).contains(&format!("{}: not a WebAssembly file", bad.display())), "{}", stdout(&o));

    let o = host(&["check", &as_str(dir.path())], dir.path());
    assert_exit(&o, 1);
    let out = stdout(&o);
    // File name order, as a directory loads.
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with("  ")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with(&format!("{}: refused: not a WebAssembly file", bad.display())), "{out}");
    assert!(lines[1].starts_with(&format!("{}: ok: say_hello_activity", good.display())), "{out}");
}

#[test]
fn misnamed_manifests_are_named_with_the_name_they_need() {
    let dir = TempDir::new();
    let plugin = dir.add("misbehave.wasm", &test_plugin("misbehave"));
    let misnamed = dir.write("misbehave.wasm.toml", b"[env]\nvars = { API_URL = \"https://api\" }\n");
    let stray = dir.write("stray.toml", b"");
    dir.write(".editor.toml", b"");
    let expected = format!(
        "{}: not a manifest of any plugin; the manifest of misbehave.wasm is misbehave.toml",
        misnamed.display()
    );
    let stray_expected = format!("{}: not a manifest of any plugin: there is no stray.wasm here", stray.display());

    // A warning: nothing is refused, so the exit code stays 0.
    let o = host(&["list"], dir.path());
    assert_exit(&o, 0);
    let warnings = stdout(&o).split("\nwarnings:\n").nth(1).map(str::to_string).unwrap_or_default();
    assert!(warnings.starts_with(&expected), "{}", stdout(&o));
    assert!(warnings.contains(&stray_expected), "{}", stdout(&o));
    assert_eq!(warnings.lines().count(), 2, "hidden files are left alone: {}", stdout(&o));

    let o = host(&["check", &dir.path().to_string_lossy()], dir.path());
    assert_exit(&o, 0);
    assert!(stdout(&o).contains(&expected.replacen(": not", ": warning: not", 1)), "{}", stdout(&o));
    assert!(stdout(&o).contains("  grants: none"), "{}", stdout(&o));

    // A file checked alone: the manifest meant for it, not every stray one.
    let o = host(&["check", &plugin.to_string_lossy()], dir.path());
    assert_exit(&o, 0);
    assert!(stdout(&o).contains(&expected.replacen(": not", ": warning: not", 1)), "{}", stdout(&o));
    assert!(!stdout(&o).contains("stray.toml"), "{}", stdout(&o));

    // `call` logs it, as `run` does.
    let o = host(&["call", "add", "1", "2"], dir.path());
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains("not a manifest of any plugin; the manifest of misbehave.wasm is misbehave.toml"),
        "{}",
        stderr(&o)
    );

    std::fs::rename(&misnamed, dir.path().join("misbehave.toml")).unwrap();
    let o = host(&["check", &plugin.to_string_lossy()], dir.path());
    assert!(stdout(&o).contains("  grants: env API_URL"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("warning"), "{}", stdout(&o));
}

#[test]
fn list_and_check_show_each_plugins_grants_and_limits() {
    let dir = TempDir::new();
    let plugin = dir.add("misbehave.wasm", &test_plugin("misbehave"));
    dir.write(
        "misbehave.toml",
        b"[env]\nvars = { API_URL = \"https://api\" }\n[http]\nallow = [\"api.example.com\"]\n[limits]\nmemory = \"64MiB\"\n",
    );
    let o = host(&["list", "--timeout", "5s"], dir.path());
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("  grants: env API_URL; http api.example.com"), "{out}");
    assert!(out.contains("  limits: memory 64 MiB, timeout 5s, fuel unmetered, stack 512 KiB, output 1 MiB"), "{out}");

    let o = host(&["check", &plugin.to_string_lossy()], dir.path());
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("  grants: env API_URL; http api.example.com"), "{}", stdout(&o));

    dir.write("misbehave.toml", b"[limits]\nmemory = 12\nwat = 1\n");
    let o = host(&["check", &plugin.to_string_lossy()], dir.path());
    assert_exit(&o, 1);
    assert!(stdout(&o).contains("misbehave.toml: key `limits.wat`: unknown field `wat`"), "{}", stdout(&o));
}

#[test]
fn a_second_load_comes_from_the_compilation_cache() {
    let dir = TempDir::new();
    let plugin = dir.add("say_hello.wasm", &example("say_hello"));
    let cache = TempDir::new();
    let check = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_host"))
            .args(["check", &plugin.to_string_lossy()])
            .args(extra)
            .env("ACTIVITY_HOST_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        assert_exit(&o, 0);
        stdout(&o)
    };
    assert!(!check(&[]).contains("from the cache"));
    assert!(check(&[]).contains("from the cache"));
    assert!(!check(&["--no-cache"]).contains("from the cache"));
    // Another engine configuration is another cache entry.
    assert!(!check(&["--fuel", "1000000"]).contains("from the cache"));
}

/// A `host call` running in the background, its stderr read line by line.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Running {
    fn call(activity: &str, extra: &[&str], plugins: &Path) -> Running {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_host"))
            .args(["call", activity])
            .args(extra)
            .env("ACTIVITY_HOST_PLUGINS", plugins)
            .env("ACTIVITY_HOST_CACHE_DIR", cache_dir())
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the host binary runs");
        let (send, lines) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        Running { child, lines }
    }

    /// Waits for a line of stderr containing `text`.
    fn wait_for(&self, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while let Ok(line) = self.lines.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            if line.contains(text) {
                return;
            }
        }
        panic!("host call never logged {text:?}");
    }

    fn ctrl_c(&self) {
        let sent = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success());
    }

    fn exit_code(&mut self, within: std::time::Duration) -> i32 {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().expect("exited, not killed by a signal");
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running {within:?} after Ctrl-C");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn ctrl_c_stops_a_local_call_at_once_and_exits_130() {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    let mut call = Running::call("wait_cancel", &[], dir.path());
    call.wait_for("waiting for a cancellation");
    let sent = std::time::Instant::now();
    call.ctrl_c();
    // It heeds the cancellation, so it need not wait out the 5 s grace.
    assert_eq!(call.exit_code(std::time::Duration::from_secs(30)), 130);
    assert!(sent.elapsed() < std::time::Duration::from_secs(3), "{:?}", sent.elapsed());
}

#[test]
fn ctrl_c_interrupts_a_local_call_that_ignores_it_after_the_grace_or_a_second_ctrl_c() {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    let mut call = Running::call("ignore_cancel", &["--cancel-grace", "300ms"], dir.path());
    call.wait_for("ignoring cancellations");
    let sent = std::time::Instant::now();
    call.ctrl_c();
    assert_eq!(call.exit_code(std::time::Duration::from_secs(30)), 130);
    let took = sent.elapsed();
    assert!(took >= std::time::Duration::from_millis(300) && took < std::time::Duration::from_secs(3), "{took:?}");

    // A second Ctrl-C does not wait for the grace at all.
    let mut call = Running::call("ignore_cancel", &["--cancel-grace", "60s"], dir.path());
    call.wait_for("ignoring cancellations");
    call.ctrl_c();
    call.wait_for("cancelling ignore_cancel");
    let sent = std::time::Instant::now();
    call.ctrl_c();
    assert_eq!(call.exit_code(std::time::Duration::from_secs(30)), 130);
    assert!(sent.elapsed() < std::time::Duration::from_secs(3), "{:?}", sent.elapsed());
}
