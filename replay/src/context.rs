//! What placeholders resolve against during one replay: the secrets, and the
//! responses the app gave to the cases that already ran.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use reel_core::suite::BodySpec;
use reel_core::template::{select, Resolver};
use serde_json::Value;

use crate::model::ActualResponse;

#[derive(Default)]
pub struct ReplayContext {
    /// From `.reel/secrets.toml`; `REEL_SECRET_<NAME>` in the environment wins.
    secrets: BTreeMap<String, String>,
    /// By four-digit case number.
    responses: Mutex<HashMap<String, ActualResponse>>,
}

impl ReplayContext {
    pub fn new(secrets: BTreeMap<String, String>) -> Self {
        ReplayContext {
            secrets,
            responses: Mutex::new(HashMap::new()),
        }
    }

    /// Remembers what case `name` (`0003-get-books`) got, for later cases.
    pub fn record(&self, name: &str, actual: &ActualResponse) {
        let number = name.get(..4).unwrap_or(name).to_owned();
        self.responses
            .lock()
            .expect("context lock")
            .insert(number, actual.clone());
    }
}

impl Resolver for ReplayContext {
    fn secret(&self, name: &str) -> Result<String, String> {
        if let Ok(v) = std::env::var(format!("REEL_SECRET_{name}")) {
            return Ok(v);
        }
        self.secrets.get(name).cloned().ok_or_else(|| {
            format!("secret {name} is not set: set REEL_SECRET_{name} or add it to .reel/secrets.toml (--secrets)")
        })
    }

    fn response(&self, case: &str, path: &str) -> Result<Value, String> {
        let responses = self.responses.lock().expect("context lock");
        let r = responses.get(case).ok_or_else(|| {
            format!("${{{case}.response.{path}}} refers to case {case}, which has not run before this one")
        })?;
        let body = match &r.body {
            Some(BodySpec::Json(v)) => Some(v),
            _ => None,
        };
        select(body, &r.headers, path).map_err(|e| format!("${{{case}.response.{path}}}: {e}"))
    }
}

/// Fills references to earlier answers but leaves `${secret:NAME}` as it is:
/// for what reports show, which must not carry secret values.
pub struct RefsOnly<'a>(pub &'a ReplayContext);

impl Resolver for RefsOnly<'_> {
    fn secret(&self, name: &str) -> Result<String, String> {
        Ok(format!("${{secret:{name}}}"))
    }

    fn response(&self, case: &str, path: &str) -> Result<Value, String> {
        self.0.response(case, path)
    }
}
