//! Where a recorder forwards to: a parsed, resolved `http://` or `https://` target.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::errors::ProxyError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub tls: bool,
    /// Host name for SNI and certificate checks.
    pub host: String,
    /// `host[:port]` as the target expects it in the Host header.
    pub authority: String,
    /// The URL as given.
    pub url: String,
}

impl Upstream {
    /// Parses `http://host[:port]` or `https://host[:port]`; a bare `host:port`
    /// means plain HTTP.
    pub fn parse(what: &'static str, url: &str) -> Result<Self, ProxyError> {
        let bad = |why: &str| ProxyError::BadUrl {
            what,
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let with_scheme = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let parsed = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        let tls = match parsed.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(bad(&format!("scheme '{other}' is not http or https"))),
        };
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err(bad(
                "give only scheme, host and port; paths are not rewritten",
            ));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| bad("no port"))?;
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|source| ProxyError::Resolve {
                host: host.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| bad("the host resolves to no address"))?;
        let authority = match parsed.port() {
            Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or(&host)),
            None => parsed.host_str().unwrap_or(&host).to_owned(),
        };
        Ok(Upstream {
            addr,
            tls,
            host,
            authority,
            url: url.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_tls_and_bare_targets() {
        let u = Upstream::parse("upstream", "http://127.0.0.1:8080").unwrap();
        assert_eq!(u.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(!u.tls);
        assert_eq!(u.authority, "127.0.0.1:8080");
        let u = Upstream::parse("dep", "https://localhost").unwrap();
        assert!(u.tls);
        assert_eq!(u.addr.port(), 443);
        assert_eq!(
            (u.host.as_str(), u.authority.as_str()),
            ("localhost", "localhost")
        );
        let u = Upstream::parse("dep", "127.0.0.1:9").unwrap();
        assert_eq!(u.addr.port(), 9);
    }

    #[test]
    fn rejects_what_it_cannot_forward_to() {
        for bad in ["ftp://x:1", "http://127.0.0.1:1/api", "http://"] {
            let err = Upstream::parse("upstream", bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
