//! `--dep NAME=PROTO:LISTEN=TARGET` (and reel.toml's `[record] dep`) as a typed
//! value, parsed once by clap or by the file's reader.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepSpec {
    pub name: String,
    pub protocol: DepProtocol,
    pub listen: String,
    pub target: String,
}

/// The protocols reel records a dependency in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepProtocol {
    Http,
    Postgres,
    Redis,
    Mysql,
}

impl DepProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            DepProtocol::Http => "http",
            DepProtocol::Postgres => "postgres",
            DepProtocol::Redis => "redis",
            DepProtocol::Mysql => "mysql",
        }
    }
}

/// Parses a spec; the message says what is wrong and clap (or the file's
/// reader) names the flag or key and the value.
pub fn parse(spec: &str) -> Result<DepSpec, String> {
    let usage = || {
        "expected NAME=PROTO:LISTEN=TARGET, e.g. pricing=http:127.0.0.1:18081=https://pricing.example.com".to_owned()
    };
    let (name, rest) = spec.split_once('=').ok_or_else(usage)?;
    let (protocol, rest) = rest.split_once(':').ok_or_else(usage)?;
    let (listen, target) = rest.split_once('=').ok_or_else(usage)?;
    if name.is_empty() || listen.is_empty() || target.is_empty() {
        return Err(usage());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "the name '{name}' may use letters, digits, '-' and '_' only"
        ));
    }
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "http" => DepProtocol::Http,
        "postgres" => DepProtocol::Postgres,
        "redis" => DepProtocol::Redis,
        "mysql" | "mariadb" => DepProtocol::Mysql,
        other => {
            return Err(format!(
                "protocol '{other}' is not supported yet (supported: http, postgres, redis, mysql)"
            ))
        }
    };
    Ok(DepSpec {
        name: name.to_owned(),
        protocol,
        listen: listen.to_owned(),
        target: target.to_owned(),
    })
}

/// The spec as `--dep` takes it, for messages and `reel config`.
impl fmt::Display for DepSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={}:{}={}",
            self.name,
            self.protocol.as_str(),
            self.listen,
            self.target
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_name_protocol_listen_and_target() {
        let d = parse("pricing=HTTP:127.0.0.1:18081=https://pricing.example.com").unwrap();
        assert_eq!(
            d,
            DepSpec {
                name: "pricing".into(),
                protocol: DepProtocol::Http,
                listen: "127.0.0.1:18081".into(),
                target: "https://pricing.example.com".into(),
            }
        );
        assert_eq!(
            d.to_string(),
            "pricing=http:127.0.0.1:18081=https://pricing.example.com"
        );
    }

    #[test]
    fn says_what_is_wrong() {
        for (bad, says) in [
            ("pricing", "expected NAME=PROTO:LISTEN=TARGET"),
            ("pricing=http", "expected NAME=PROTO:LISTEN=TARGET"),
            ("=http:1=2", "expected NAME=PROTO:LISTEN=TARGET"),
            ("a b=http:1=2", "the name 'a b' may use"),
            ("q=amqp:1=2", "protocol 'amqp' is not supported yet"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
