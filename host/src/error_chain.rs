//! An error and everything behind it on one line, for messages a guest or an
//! operator reads: "client error (Connect): tcp connect error: Connection
//! refused", not just the outermost "client error (Connect)".

use std::error::Error;

/// Every error behind `error`, outermost first: its sources, and what each
/// `io::Error` wraps (which `io::Error::source` skips).
pub fn causes<'a>(error: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    let mut found = Vec::new();
    let mut pending = vec![error];
    while let Some(e) = pending.pop() {
        found.push(e);
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            pending.push(inner);
        }
        if let Some(source) = e.source() {
            pending.push(source);
        }
    }
    found
}

/// The causes joined with `: `, each said once (many errors repeat their
/// source in their own message).
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in causes(error) {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
