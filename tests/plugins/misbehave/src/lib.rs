//! Activities that misbehave on purpose, for the host's tests: each one
//! exercises a failure path a real plugin may hit.

use std::time::Duration;

use activity::ApplicationError;
use serde::Serialize;

/// Panics with a message the failure must carry.
#[activity::defn]
fn panic(message: String) -> String {
    panic!("{message}")
}

/// Never returns: only the deadline stops it.
#[activity::defn]
fn spin() -> u64 {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Heartbeats once, to say it is running, then never returns: a hog a test
/// can see at work before it measures what runs beside it.
#[activity::defn]
fn spin_reporting() -> u64 {
    activity::heartbeat("spinning");
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Keeps a core busy for `millis` of wall time, then returns: a CPU-bound
/// activity of known cost (the benchmarks' scale-out load).
#[activity::defn]
fn burn(millis: u64) -> u64 {
    let until = std::time::Instant::now() + Duration::from_millis(millis);
    let mut n: u64 = 0;
    while std::time::Instant::now() < until {
        for _ in 0..1000 {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
    n
}

/// Blocks in the host (a WASI sleep), where no epoch check runs.
#[activity::defn]
fn sleep(millis: u64) -> String {
    std::thread::sleep(Duration::from_millis(millis));
    format!("slept {millis} ms")
}

/// Keeps every allocation until the memory limit refuses one.
#[activity::defn]
fn alloc_forever() -> usize {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

/// Allocates `mib` MiB, touches it and returns its size.
#[activity::defn]
fn alloc(mib: usize) -> usize {
    let block = vec![1u8; mib << 20];
    std::hint::black_box(&block).len()
}

/// Touches `mib` MiB, holds it for `millis` of wall time, and returns the
/// attempt it ran in (the memory budget's tests: a retry is visible).
#[activity::defn]
fn hold(mib: usize, millis: u64) -> u32 {
    let block = vec![1u8; mib << 20];
    std::thread::sleep(Duration::from_millis(millis));
    std::hint::black_box(&block);
    activity::info().attempt
}

/// Each frame lives on the WebAssembly stack only (nothing address-taken, so
/// nothing on Rust's shadow stack in linear memory), and `n - deeper(..)` is
/// not a form LLVM can turn back into a loop.
#[inline(never)]
#[allow(unconditional_recursion)]
fn deeper(n: u64) -> u64 {
    n.wrapping_sub(deeper(n.wrapping_add(1)))
}

/// Recurses until the stack overflows.
#[activity::defn]
fn recurse() -> u64 {
    deeper(0)
}

/// Fails with every field of an ApplicationError set.
#[activity::defn]
fn fail(message: String) -> Result<String, ApplicationError> {
    Err(ApplicationError::new(message)
        .with_type("CardDeclined")
        .non_retryable()
        .with_detail(&serde_json::json!({"code": 51}))
        .with_detail("second detail")
        .with_next_retry_delay(Duration::from_secs(3)))
}

/// Fails on the first attempt, succeeds on the next (retry policies).
#[activity::defn]
fn flaky() -> Result<String, ApplicationError> {
    let attempt = activity::info().attempt;
    if attempt < 2 {
        return Err(ApplicationError::new(format!("attempt {attempt} fails")).with_type("Flaky"));
    }
    Ok(format!("succeeded on attempt {attempt}"))
}

#[derive(Serialize)]
struct SeenInfo {
    activity_id: String,
    activity_type: String,
    attempt: u32,
    namespace: String,
    task_queue: String,
    workflow_id: Option<String>,
    workflow_run_id: Option<String>,
    workflow_type: Option<String>,
    heartbeat_details: Vec<serde_json::Value>,
    start_to_close_timeout_ms: Option<u128>,
    heartbeat_timeout_ms: Option<u128>,
    scheduled_ms: u128,
    started_ms: u128,
    is_local: bool,
}

/// Returns what `info()` says, as JSON.
#[activity::defn]
fn info() -> SeenInfo {
    let i = activity::info();
    let ms = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    SeenInfo {
        heartbeat_details: i
            .heartbeat_details
            .iter()
            .map(|p| activity::payload_converter().from_payload(p).unwrap_or(serde_json::Value::Null))
            .collect(),
        start_to_close_timeout_ms: i.start_to_close_timeout.map(|d| d.as_millis()),
        heartbeat_timeout_ms: i.heartbeat_timeout.map(|d| d.as_millis()),
        scheduled_ms: ms(i.scheduled_time),
        started_ms: ms(i.started_time),
        activity_id: i.activity_id,
        activity_type: i.activity_type,
        attempt: i.attempt,
        namespace: i.namespace,
        task_queue: i.task_queue,
        workflow_id: i.workflow_id,
        workflow_run_id: i.workflow_run_id,
        workflow_type: i.workflow_type,
        is_local: i.is_local,
    }
}

static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts its own calls in a global: 1 every time if each execution gets a
/// fresh instance.
#[activity::defn]
fn count() -> u64 {
    CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
}

static IN_FLIGHT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts the executions inside this instance while it waits `millis` in
/// the host, and returns the most it saw at once: more than 1 would mean
/// two executions shared one instance at the same time.
#[activity::defn]
fn overlap(millis: u64) -> u64 {
    use std::sync::atomic::Ordering::SeqCst;
    let inside = IN_FLIGHT.fetch_add(1, SeqCst) + 1;
    std::thread::sleep(Duration::from_millis(millis));
    let after = IN_FLIGHT.load(SeqCst);
    IN_FLIGHT.fetch_sub(1, SeqCst);
    inside.max(after)
}

/// Adds two numbers: two positional parameters.
#[activity::defn]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Greets, with an optional second argument that may be left out.
#[activity::defn]
fn greet(name: String, punctuation: Option<String>) -> String {
    format!("Hello, {name}{}", punctuation.unwrap_or_else(|| "!".into()))
}

/// Returns nothing: the result is `binary/null`.
#[activity::defn]
fn nothing() {}

/// Returns raw bytes: the result is `binary/plain`.
#[activity::defn]
fn bytes(text: String) -> activity::Bytes {
    activity::Bytes(text.into_bytes())
}

/// Prints `lines` lines to stdout and one to stderr, then logs one record.
#[activity::defn]
fn print(lines: u32) -> u32 {
    for i in 0..lines {
        println!("stdout line {i}");
    }
    eprintln!("a line on stderr");
    activity::logger::info!("a log record from the plugin");
    lines
}

/// Says it started, then heartbeats with a progress counter until cancelled,
/// then stops as cancelled.
#[activity::defn]
fn wait_cancel() -> Result<String, ApplicationError> {
    println!("waiting for a cancellation");
    let mut beats: u64 = 0;
    while !activity::is_cancelled() {
        beats += 1;
        activity::heartbeat(&beats);
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(ApplicationError::cancelled().with_detail(&beats))
}

/// Heartbeats (so a cancellation reaches it) but never looks at
/// `is_cancelled()`: only an interrupt stops it.
#[activity::defn]
fn ignore_cancel() -> u64 {
    println!("ignoring cancellations");
    let mut beats: u64 = 0;
    loop {
        beats += 1;
        activity::heartbeat(&beats);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Records the heartbeat detail it was given, then fails on the first attempt;
/// the next attempt returns the detail the first one left.
#[activity::defn]
fn resume(progress: String) -> Result<String, ApplicationError> {
    let info = activity::info();
    if info.attempt == 1 {
        activity::heartbeat(&progress);
        return Err(ApplicationError::new("first attempt stops after its heartbeat").with_type("Flaky"));
    }
    let previous: Option<String> = info.heartbeat_detail()?;
    Ok(format!("attempt {} resumed from {:?}", info.attempt, previous))
}

// ---- Reaching outside the sandbox: each works only as far as the manifest grants.

fn io_error(what: &str, e: std::io::Error) -> ApplicationError {
    ApplicationError::new(format!("{what}: {e}")).with_type("IoError")
}

/// Reads a file.
#[activity::defn]
fn read_file(path: String) -> Result<String, ApplicationError> {
    std::fs::read_to_string(&path).map_err(|e| io_error(&format!("reading {path}"), e))
}

/// Writes a file.
#[activity::defn]
fn write_file(path: String, text: String) -> Result<(), ApplicationError> {
    std::fs::write(&path, text).map_err(|e| io_error(&format!("writing {path}"), e))
}

/// Every environment variable the plugin sees.
#[activity::defn]
fn env() -> std::collections::BTreeMap<String, String> {
    std::env::vars().collect()
}

/// Connects to `address`, sends "ping" and returns the first line of the reply.
#[activity::defn]
fn connect(address: String) -> Result<String, ApplicationError> {
    use std::io::{BufRead, Write};
    let mut stream =
        std::net::TcpStream::connect(&address).map_err(|e| io_error(&format!("connecting to {address}"), e))?;
    stream.write_all(b"ping\n").map_err(|e| io_error("sending", e))?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line).map_err(|e| io_error("receiving", e))?;
    Ok(line.trim_end().to_string())
}

/// Sends one UDP datagram to `address` from an ephemeral port.
#[activity::defn]
fn udp_send(address: String) -> Result<usize, ApplicationError> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| io_error("binding a UDP socket", e))?;
    socket.send_to(b"ping", &address).map_err(|e| io_error(&format!("sending to {address}"), e))
}

/// Listens for TCP connections on `address` and returns the bound address.
#[activity::defn]
fn listen(address: String) -> Result<String, ApplicationError> {
    let listener =
        std::net::TcpListener::bind(&address).map_err(|e| io_error(&format!("listening on {address}"), e))?;
    Ok(listener.local_addr().map_err(|e| io_error("reading the bound address", e))?.to_string())
}

/// Binds a TCP socket to the IPv4 `address` without listening (std has no
/// such call: wasi:sockets directly), and returns the address bound. A bound
/// port is held on the host, listening or not.
#[activity::defn]
fn bind(address: String) -> Result<String, ApplicationError> {
    use wasip2::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
    use wasip2::sockets::{instance_network, tcp_create_socket};
    let refused = |what: &str, e: wasip2::sockets::network::ErrorCode| {
        ApplicationError::new(format!("{what} {address}: {e:?}")).with_type("IoError")
    };
    let parsed: std::net::SocketAddrV4 =
        address.parse().map_err(|e| ApplicationError::new(format!("{address}: {e}")).with_type("ValueError"))?;
    let [a, b, c, d] = parsed.ip().octets();
    let socket = tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4).map_err(|e| refused("socket for", e))?;
    let local = IpSocketAddress::Ipv4(Ipv4SocketAddress { port: parsed.port(), address: (a, b, c, d) });
    socket.start_bind(&instance_network::instance_network(), local).map_err(|e| refused("binding", e))?;
    socket.subscribe().block();
    socket.finish_bind().map_err(|e| refused("binding", e))?;
    match socket.local_address().map_err(|e| refused("reading the address bound to", e))? {
        IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address: (a, b, c, d) }) => {
            Ok(format!("{a}.{b}.{c}.{d}:{port}"))
        }
        IpSocketAddress::Ipv6(_) => Ok("an IPv6 address".to_string()),
    }
}

/// Looks `name` up (as `connect` would) and returns the addresses found.
#[activity::defn]
fn resolve(name: String) -> Result<Vec<String>, ApplicationError> {
    use std::net::ToSocketAddrs;
    let found = (name.as_str(), 80).to_socket_addrs().map_err(|e| io_error(&format!("looking up {name}"), e))?;
    Ok(found.map(|a| a.ip().to_string()).collect())
}

/// GETs `http://AUTHORITY/PATH` through wasi:http and returns "STATUS BODY".
#[activity::defn]
fn http_get(authority: String, path: String) -> Result<String, ApplicationError> {
    use wasip2::http::{outgoing_handler, types::*};
    let fail = |what: &str| ApplicationError::new(what.to_string()).with_type("HttpError");
    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&Scheme::Http)).map_err(|_| fail("bad scheme"))?;
    request.set_authority(Some(&authority)).map_err(|_| fail("bad authority"))?;
    request.set_path_with_query(Some(&path)).map_err(|_| fail("bad path"))?;
    let response = outgoing_handler::handle(request, None).map_err(|e| fail(&format!("{e:?}")))?;
    response.subscribe().block();
    let response = match response.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(fail(&format!("{e:?}"))),
        _ => return Err(fail("no response")),
    };
    let status = response.status();
    let body = response.consume().map_err(|_| fail("no body"))?;
    let stream = body.stream().map_err(|_| fail("no body stream"))?;
    let mut bytes = Vec::new();
    while let Ok(chunk) = stream.blocking_read(64 * 1024) {
        bytes.extend(chunk);
    }
    Ok(format!("{status} {}", String::from_utf8_lossy(&bytes)))
}

/// GETs an absolute `http://` or `https://` URL through wasi:http and
/// returns "STATUS BODY"; the wasi:http error code, if any, as the failure.
#[activity::defn]
fn http_fetch(url: String) -> Result<String, ApplicationError> {
    use wasip2::http::{outgoing_handler, types::*};
    let fail = |what: &str| ApplicationError::new(what.to_string()).with_type("HttpError");
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", rest)) => (Scheme::Https, rest),
        Some(("http", rest)) => (Scheme::Http, rest),
        _ => return Err(fail("not an http(s) URL")),
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&scheme)).map_err(|_| fail("bad scheme"))?;
    request.set_authority(Some(authority)).map_err(|_| fail("bad authority"))?;
    request.set_path_with_query(Some(path)).map_err(|_| fail("bad path"))?;
    let response = outgoing_handler::handle(request, None).map_err(|e| fail(&format!("{e:?}")))?;
    response.subscribe().block();
    let response = match response.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(fail(&format!("{e:?}"))),
        _ => return Err(fail("no response")),
    };
    let status = response.status();
    let body = response.consume().map_err(|_| fail("no body"))?;
    let stream = body.stream().map_err(|_| fail("no body stream"))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend(chunk),
            Err(wasip2::io::streams::StreamError::Closed) => break,
            Err(wasip2::io::streams::StreamError::LastOperationFailed(e)) => {
                return Err(fail(&format!("reading the body failed: {}", e.to_debug_string())));
            }
        }
    }
    Ok(format!("{status} {}", String::from_utf8_lossy(&bytes)))
}

/// Returns `mib` MiB of raw bytes.
#[activity::defn]
fn big_result(mib: usize) -> activity::Bytes {
    activity::Bytes(vec![b'x'; mib << 20])
}

/// Heartbeats `n` times as fast as it can.
#[activity::defn]
fn heartbeat_storm(n: u64) -> u64 {
    for i in 0..n {
        activity::heartbeat(&i);
    }
    n
}

/// Heartbeats once with `mib` MiB of details.
#[activity::defn]
fn heartbeat_big(mib: usize) -> usize {
    activity::heartbeat(&activity::Bytes(vec![b'x'; mib << 20]));
    mib
}

/// Prints `mib` MiB of text to stdout.
#[activity::defn]
fn print_lots(mib: usize) -> usize {
    let line = "x".repeat(1023);
    for _ in 0..(mib << 10) {
        println!("{line}");
    }
    mib
}

activity::export!(
    http_fetch,
    udp_send,
    listen,
    bind,
    resolve,
    read_file,
    write_file,
    env,
    connect,
    http_get,
    big_result,
    heartbeat_storm,
    heartbeat_big,
    print_lots,
    panic,
    spin,
    burn,
    sleep,
    alloc_forever,
    hold,
    alloc,
    recurse,
    fail,
    flaky,
    info,
    count,
    overlap,
    spin_reporting,
    add,
    greet,
    nothing,
    bytes,
    print,
    wait_cancel,
    ignore_cancel,
    resume,
);
