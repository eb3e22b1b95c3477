//! `reel openapi SOURCE`: an OpenAPI 3.1 document from recorded traffic to
//! the app ([`reel_core::openapi`]), from a session in the store, a suite
//! folder or a HAR file; or, with `--diff OLD`, where that traffic
//! disagrees with an existing document.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use reel_core::openapi::{self, Sample};
use reel_core::secrets::{SecretRules, Secrets};
use reel_core::store::Store;

use crate::args::OpenapiArgs;
use crate::output::printable;

/// The recorded requests of the source, its name and where it was served.
struct Source {
    title: String,
    server: Option<String>,
    samples: Vec<Sample>,
    /// `suite reel/books`, `session 3 "checkout"`, `HAR file x.har`.
    what: String,
}

fn source(args: &OpenapiArgs, rules: SecretRules) -> anyhow::Result<Source> {
    let path = Path::new(&args.source);
    if path.join("suite.json").is_file() {
        let suite = reel_core::suite::load_suite(path)?;
        let samples = suite
            .cases
            .iter()
            .map(|c| (c.case.request.clone(), c.case.response.clone()))
            .collect();
        return Ok(Source {
            title: suite.suite.name.clone(),
            server: Some(suite.suite.app.target.clone()),
            samples,
            what: format!("suite {}", path.display()),
        });
    }
    let mut secrets = Secrets::with_rules(rules);
    if path.is_file() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let har = reel_core::har::read(&bytes, args.app_host.as_deref())
            .with_context(|| format!("{} is not a HAR file reel can read", path.display()))?;
        if har.app_guessed {
            eprintln!(
                "reel: the app is {} (the most frequent host; --app-host chooses another)",
                printable(&har.app)
            );
        }
        let title = path
            .file_stem()
            .map_or("api".into(), |s| s.to_string_lossy().into_owned());
        return Ok(Source {
            title,
            server: Some(har.app.clone()),
            samples: openapi::samples(&har.exchanges, Some(&mut secrets)),
            what: format!("HAR file {}", path.display()),
        });
    }
    let store = Store::open_existing(&args.store.store, false)?;
    let s = store.find_session(&args.source)?.session;
    let exchanges = store.exchanges(s.id)?;
    Ok(Source {
        title: s.name.clone(),
        server: Some(s.target.clone()),
        samples: openapi::samples(&exchanges, Some(&mut secrets)),
        what: format!("session {} \"{}\"", s.id, printable(&s.name)),
    })
}

/// An OpenAPI document in YAML or JSON (JSON is YAML too).
fn read_document(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: serde_json::Value = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} is not YAML or JSON", path.display()))?;
    anyhow::ensure!(
        doc.get("paths").is_some_and(serde_json::Value::is_object),
        "{} has no paths object: not an OpenAPI document",
        path.display()
    );
    Ok(doc)
}

/// `doc` as YAML that YAML 1.1 readers (PyYAML, which Schemathesis and
/// openapi-spec-validator use) read back as written: serde_yaml_ng writes
/// YAML 1.2, where `on`, `yes`, `1_000`, `1:20` and `2024-01-02` are
/// strings it need not quote; YAML 1.1 reads them as a boolean, numbers and
/// a date. Such plain scalars, as keys or values, are quoted.
fn yaml(doc: &serde_json::Value) -> anyhow::Result<String> {
    use std::sync::LazyLock;
    static LINE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^(\s*(?:- )*)([^'\s][^:]*?:?)(: (.*))?$").expect("a valid pattern")
    });
    static YAML11: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r"(?x)^(
                (?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N)
              | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?
              | [-+]?(?:[0-9][0-9_]*_[0-9_]*)(?:\.[0-9_]*)?
              | [-+]?0[0-7_]+
              | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt\ ].*)?
              | [-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)
              | ~
            )$",
        )
        .expect("a valid pattern")
    });
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let text = serde_yaml_ng::to_string(doc)?;
    let mut out = String::with_capacity(text.len() + 64);
    let indent = |l: &str| l.len() - l.trim_start().len();
    // The indentation of the key whose block scalar (`|-`) is being read:
    // its lines are a string's text, kept as they are.
    let mut block: Option<usize> = None;
    for line in text.lines() {
        if let Some(at) = block {
            if line.trim().is_empty() || indent(line) > at {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            block = None;
        }
        let last = line
            .rsplit_once(": ")
            .map_or_else(|| line.trim_start().trim_start_matches("- "), |(_, v)| v);
        let opens_block =
            last.starts_with(['|', '>']) && last[1..].chars().all(|c| "-+0123456789".contains(c));
        if opens_block {
            block = Some(indent(line));
        }
        let fixed = LINE.captures(line).map(|c| {
            let (lead, first) = (&c[1], &c[2]);
            match c.get(4) {
                // `key: value`
                Some(value) => {
                    let key = if YAML11.is_match(first) {
                        quote(first)
                    } else {
                        first.to_owned()
                    };
                    let v = value.as_str();
                    let v = if YAML11.is_match(v) {
                        quote(v)
                    } else {
                        v.to_owned()
                    };
                    format!("{lead}{key}: {v}")
                }
                // `key:` opening a block, or a list item's plain scalar.
                None => match first.strip_suffix(':') {
                    Some(key) if YAML11.is_match(key) => format!("{lead}{}:", quote(key)),
                    Some(_) => line.to_owned(),
                    None if YAML11.is_match(first) => format!("{lead}{}", quote(first)),
                    None => line.to_owned(),
                },
            }
        });
        out.push_str(fixed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    Ok(out)
}

pub fn run(args: OpenapiArgs, rules: SecretRules) -> anyhow::Result<ExitCode> {
    let src = source(&args, rules)?;
    anyhow::ensure!(
        !src.samples.is_empty(),
        "{} has no HTTP requests to the app to infer from",
        src.what
    );
    if let Some(old) = &args.diff {
        let doc = read_document(old)?;
        let found = openapi::diff::diff(&doc, &src.samples);
        for f in &found {
            out!("{}", printable(&f.to_string()));
        }
        if found.is_empty() {
            out!(
                "{} agrees with {} ({} requests)",
                old.display(),
                src.what,
                src.samples.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        out!(
            "{} disagreements between {} and {}",
            found.len(),
            old.display(),
            src.what
        );
        return Ok(ExitCode::from(1));
    }
    let doc = openapi::document(&src.title, src.server.as_deref(), &src.samples);
    let json = args.output.as_ref().is_some_and(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    });
    let text = if json {
        serde_json::to_string_pretty(&doc)? + "\n"
    } else {
        yaml(&doc)?
    };
    let paths = doc["paths"].as_object().map_or(0, |p| p.len());
    let operations: usize = doc["paths"].as_object().map_or(0, |p| {
        p.values()
            .filter_map(|v| v.as_object())
            .map(|o| o.len())
            .sum()
    });
    match &args.output {
        Some(path) => {
            reel_core::files::replace(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            out!(
                "Wrote {} ({paths} paths, {operations} operations from {} requests of {})",
                path.display(),
                src.samples.len(),
                src.what
            );
        }
        None => out_part!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::yaml;

    /// What YAML 1.1 would read as something else is quoted; the rest is
    /// left as serde_yaml_ng wrote it.
    #[test]
    fn yaml_reads_back_the_same_under_yaml_1_1() {
        let doc = serde_json::json!({
            "enum": ["on", "OFF", "yes", "n", "USD"],
            "on": {"x": 1},
            "n": "1_000",
            "t": "1:20",
            "d": "2024-01-02",
            "o": "0755",
            "plain": "hello: world",
            "text": "first\non\nyes",
            "list": ["a\nno\n1:20"],
            "num": 12,
        });
        let text = yaml(&doc).unwrap();
        for want in [
            "- 'on'",
            "- 'OFF'",
            "- 'yes'",
            "- 'n'",
            "- USD",
            "'on':",
            "'n': '1_000'",
            "t: '1:20'",
            "d: '2024-01-02'",
            "o: '0755'",
            "num: 12",
        ] {
            assert!(text.lines().any(|l| l.trim() == want), "{want}\n{text}");
        }
        // And it is still the same document for a YAML 1.2 reader.
        let back: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, doc);
    }
}
