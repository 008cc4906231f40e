//! The `[http]` section of a manifest: which hosts, ports and methods a
//! plugin's requests may reach.

use std::fmt;

/// A host (with, optionally, the only ports and methods allowed) that
/// outbound HTTP may reach. `*.example.com` matches every subdomain.
///
/// Without ports, a rule allows the scheme's own port only (80 for
/// `http://`, 443 for `https://`): granting `api.example.com` should not
/// also open whatever admin port the same machine listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    pub host: String,
    pub ports: Vec<u16>,
    pub methods: Vec<http::Method>,
}

impl HttpRule {
    /// Whether a request to `host:port` (`scheme_port` being 80 or 443 by the
    /// request's scheme) with `method` is allowed by this rule.
    pub fn allows(&self, host: &str, port: u16, scheme_port: u16, method: &http::Method) -> bool {
        let host_ok = match self.host.strip_prefix("*.") {
            Some(domain) => {
                host.len() > domain.len() + 1 && host.ends_with(domain) && {
                    host.as_bytes()[host.len() - domain.len() - 1] == b'.'
                }
            }
            None => host == self.host,
        };
        let port_ok = if self.ports.is_empty() { port == scheme_port } else { self.ports.contains(&port) };
        host_ok && port_ok && (self.methods.is_empty() || self.methods.contains(method))
    }
}

impl fmt::Display for HttpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http {}", self.host)?;
        if !self.ports.is_empty() {
            write!(f, ":{}", self.ports.iter().map(u16::to_string).collect::<Vec<_>>().join("|"))?;
        }
        if !self.methods.is_empty() {
            write!(f, " {}", self.methods.iter().map(http::Method::as_str).collect::<Vec<_>>().join("|"))?;
        }
        Ok(())
    }
}

/// Parses one `[http] allow` entry: `"host"`, `"host:port"`, or the table
/// form's fields. The error is the reason, for the manifest's one line.
pub fn parse_rule(host: String, ports: Vec<u16>, methods: Vec<String>) -> Result<HttpRule, String> {
    let (host, ports) = if ports.is_empty() {
        match host.rsplit_once(':') {
            Some((name, port)) if !name.ends_with(']') || host.starts_with('[') => {
                let port: u16 = port.parse().map_err(|_| format!("{host:?}: {port:?} is not a port"))?;
                (name.to_string(), vec![port])
            }
            _ => (host, ports),
        }
    } else {
        (host, ports)
    };
    let host = host.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let bad_ipv6 = host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err();
    if host.is_empty() || host.contains('/') || bad_ipv6 {
        return Err(format!("{host:?} is not a host name: write \"api.example.com\", without scheme or path"));
    }
    if ports.contains(&0) {
        return Err("port 0 is not a port".into());
    }
    let methods = methods
        .into_iter()
        .map(|m| {
            http::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("{m:?} is not an HTTP method"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpRule { host, ports, methods })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(host: &str, ports: &[u16], methods: &[http::Method]) -> HttpRule {
        HttpRule { host: host.into(), ports: ports.to_vec(), methods: methods.to_vec() }
    }

    #[test]
    fn a_rule_matches_its_host_port_and_method_only() {
        let get = http::Method::GET;
        assert!(rule("api.example.com", &[], &[]).allows("api.example.com", 443, 443, &get));
        assert!(!rule("api.example.com", &[], &[]).allows("evil.com", 443, 443, &get));
        assert!(!rule("api.example.com", &[], &[]).allows("api.example.com.evil.com", 443, 443, &get));
        assert!(rule("127.0.0.1", &[8080], &[]).allows("127.0.0.1", 8080, 80, &get));
        assert!(!rule("127.0.0.1", &[8080], &[]).allows("127.0.0.1", 8081, 80, &get));
        assert!(!rule("pay.example.com", &[], &[http::Method::POST]).allows("pay.example.com", 443, 443, &get));
        assert!(rule("*.example.com", &[], &[]).allows("a.b.example.com", 443, 443, &get));
        assert!(!rule("*.example.com", &[], &[]).allows("example.com", 443, 443, &get));
        assert!(!rule("*.example.com", &[], &[]).allows("badexample.com", 443, 443, &get));
    }

    #[test]
    fn a_bare_host_allows_the_schemes_own_port_only() {
        let get = http::Method::GET;
        let bare = rule("127.0.0.1", &[], &[]);
        assert!(bare.allows("127.0.0.1", 80, 80, &get));
        assert!(bare.allows("127.0.0.1", 443, 443, &get));
        assert!(!bare.allows("127.0.0.1", 18080, 80, &get));
        assert!(!bare.allows("127.0.0.1", 443, 80, &get), "http:// to port 443 is not http's port");
    }

    #[test]
    fn entries_parse_as_written() {
        assert_eq!(parse_rule("API.example.com".into(), vec![], vec![]).unwrap(), rule("api.example.com", &[], &[]));
        assert_eq!(parse_rule("127.0.0.1:8080".into(), vec![], vec![]).unwrap(), rule("127.0.0.1", &[8080], &[]));
        assert_eq!(parse_rule("[::1]:8080".into(), vec![], vec![]).unwrap(), rule("::1", &[8080], &[]));
        assert_eq!(
            parse_rule("pay.example.com".into(), vec![443], vec!["post".into()]).unwrap(),
            rule("pay.example.com", &[443], &[http::Method::POST])
        );
        assert!(parse_rule("https://api.example.com".into(), vec![], vec![]).is_err());
        assert!(parse_rule("host:http".into(), vec![], vec![]).is_err());
        assert!(parse_rule("host".into(), vec![0], vec![]).is_err());
        assert!(parse_rule("host".into(), vec![], vec!["GE T".into()]).is_err());
    }
}
