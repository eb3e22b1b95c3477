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
        serde_yaml_ng::to_string(&doc)?
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
