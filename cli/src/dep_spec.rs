//! Parses `--dep NAME=PROTO:LISTEN=TARGET`.

use anyhow::{bail, Context as _};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepSpec {
    pub name: String,
    pub protocol: String,
    pub listen: String,
    pub target: String,
}

pub fn parse(spec: &str) -> anyhow::Result<DepSpec> {
    let usage = || {
        format!("--dep '{spec}': expected NAME=PROTO:LISTEN=TARGET, e.g. pricing=http:127.0.0.1:18081=https://pricing.example.com")
    };
    let (name, rest) = spec.split_once('=').with_context(usage)?;
    let (protocol, rest) = rest.split_once(':').with_context(usage)?;
    let (listen, target) = rest.split_once('=').with_context(usage)?;
    if name.is_empty() || listen.is_empty() || target.is_empty() {
        bail!(usage());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("--dep '{spec}': the name '{name}' may use letters, digits, '-' and '_' only");
    }
    Ok(DepSpec {
        name: name.to_owned(),
        protocol: protocol.to_ascii_lowercase(),
        listen: listen.to_owned(),
        target: target.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_name_protocol_listen_and_target() {
        let d = parse("pricing=http:127.0.0.1:18081=https://pricing.example.com").unwrap();
        assert_eq!(
            d,
            DepSpec {
                name: "pricing".into(),
                protocol: "http".into(),
                listen: "127.0.0.1:18081".into(),
                target: "https://pricing.example.com".into(),
            }
        );
    }

    #[test]
    fn names_the_bad_spec() {
        for bad in ["pricing", "pricing=http", "=http:1=2", "a b=http:1=2"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
