//! What placeholders resolve against during one replay: the secrets, and the
//! responses the app gave to the cases that already ran.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use reel_core::secrets::mask_value;
use reel_core::suite::load::LoadedCase;
use reel_core::suite::{BodySpec, LoadedSuite, ResponseSpec};
use reel_core::template::{secret_names, select, Resolver};
use serde_json::Value;

use crate::model::ActualResponse;

#[derive(Default)]
pub struct ReplayContext {
    /// From `.reel/secrets.toml`; `REEL_SECRET_<NAME>` in the environment wins.
    secrets: BTreeMap<String, String>,
    /// By case number (`0003`).
    responses: Mutex<HashMap<String, ActualResponse>>,
    /// Secret values handed out this run, to mask them again in what reports show.
    handed_out: Mutex<BTreeMap<String, String>>,
}

impl ReplayContext {
    pub fn new(secrets: BTreeMap<String, String>) -> Self {
        ReplayContext {
            secrets,
            responses: Mutex::new(HashMap::new()),
            handed_out: Mutex::new(BTreeMap::new()),
        }
    }

    /// `text` with every secret value handed out this run replaced by its
    /// placeholder again where it stands as a value: reports must not carry
    /// secrets, nor lose the names that happen to spell one.
    pub fn mask(&self, text: &str) -> String {
        let handed = self.handed_out.lock().expect("context lock");
        let mut out = text.to_owned();
        for (name, value) in handed.iter().filter(|(_, v)| v.len() >= 4) {
            out = mask_value(&out, value, &format!("${{secret:{name}}}"));
        }
        out
    }

    pub fn handed_out_any(&self) -> bool {
        !self.handed_out.lock().expect("context lock").is_empty()
    }

    /// The secrets `cases` and the suite's mocks need that neither the
    /// environment nor the secrets file has: each with the files that use it.
    /// Checked before anything starts, so a run without them says once which
    /// `REEL_SECRET_*` to set instead of failing case after case. A
    /// `Set-Cookie` an expected response holds is compared by form only and
    /// needs none.
    pub fn missing(
        &self,
        suite: &LoadedSuite,
        cases: &[&LoadedCase],
    ) -> BTreeMap<String, BTreeSet<String>> {
        let mut needed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut note = |text: String, file: &str| {
            for name in secret_names(&text) {
                needed
                    .entry(name.to_owned())
                    .or_default()
                    .insert(file.to_owned());
            }
        };
        fn json<T: serde::Serialize>(v: &T) -> String {
            serde_json::to_string(v).expect("suite parts serialize")
        }
        for c in cases {
            let file = format!("cases/{}.json", c.case.name);
            note(json(&c.case.request), &file);
            let expected = ResponseSpec {
                headers: c
                    .case
                    .response
                    .headers
                    .iter()
                    .filter(|(n, _)| !crate::compare::loose::is_loose(n))
                    .cloned()
                    .collect(),
                ..c.case.response.clone()
            };
            note(json(&expected), &file);
            let mocks = format!("mocks/{}.jsonl", c.case.name);
            for m in &c.mocks {
                note(json(m), &mocks);
            }
            for m in &c.pg {
                note(json(m), &mocks);
            }
            for m in &c.redis {
                note(json(m), &mocks);
            }
            for m in &c.mysql {
                note(json(m), &mocks);
            }
        }
        for m in suite.startup.iter().chain(&suite.shared) {
            note(json(m), "mocks/startup.jsonl or mocks/shared.jsonl");
        }
        for m in suite.startup_pg.iter().chain(&suite.shared_pg) {
            note(json(m), "mocks/startup.jsonl or mocks/shared.jsonl");
        }
        for m in suite.startup_redis.iter().chain(&suite.shared_redis) {
            note(json(m), "mocks/startup.jsonl or mocks/shared.jsonl");
        }
        for m in suite.startup_mysql.iter().chain(&suite.shared_mysql) {
            note(json(m), "mocks/startup.jsonl or mocks/shared.jsonl");
        }
        needed.retain(|name, _| self.value_of(name).is_none());
        needed
    }

    /// A secret's value: `REEL_SECRET_<NAME>`, else the secrets file's. An
    /// empty variable is not set: CI systems pass a secret they do not have
    /// (a fork's pull request on GitHub) as one, and a run with it would
    /// fail its cases for no reason it names.
    fn value_of(&self, name: &str) -> Option<String> {
        std::env::var(format!("REEL_SECRET_{name}"))
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| self.secrets.get(name).cloned())
    }

    /// Remembers what case `name` (`0003-get-books`) got, for later cases.
    pub fn record(&self, name: &str, actual: &ActualResponse) {
        let number = reel_core::suite::case_number(name).to_owned();
        self.responses
            .lock()
            .expect("context lock")
            .insert(number, actual.clone());
    }
}

impl Resolver for ReplayContext {
    fn secret(&self, name: &str) -> Result<String, String> {
        let value = self.value_of(name);
        if let Some(v) = &value {
            self.handed_out
                .lock()
                .expect("context lock")
                .insert(name.to_owned(), v.clone());
        }
        value.ok_or_else(|| {
            format!("secret {name} is not set: set REEL_SECRET_{name} or add it to .reel/secrets.toml (--secrets)")
        })
    }

    fn response(&self, case: &str, path: &str) -> Result<Value, String> {
        let responses = self.responses.lock().expect("context lock");
        let r = responses.get(case).ok_or_else(|| {
            format!("${{{case}.response.{path}}} refers to case {case}, which has not run before this one")
        })?;
        let body = r.body.as_ref().and_then(BodySpec::as_json);
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

/// Fills `${secret:NAME}` only, leaving text that looks like a reference to
/// an earlier answer as it is: for Postgres mock lines, which hold recorded
/// SQL and values, not references.
pub struct SecretsOnly<'a>(pub &'a ReplayContext);

impl Resolver for SecretsOnly<'_> {
    fn secret(&self, name: &str) -> Result<String, String> {
        self.0.secret(name)
    }

    fn response(&self, case: &str, path: &str) -> Result<Value, String> {
        Ok(Value::String(format!("${{{case}.response.{path}}}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_handed_out_are_masked_again() {
        let ctx = ReplayContext::new(BTreeMap::from([(
            "PASSWORD".to_owned(),
            "hunter2-long".to_owned(),
        )]));
        assert!(!ctx.handed_out_any());
        assert_eq!(ctx.secret("PASSWORD").unwrap(), "hunter2-long");
        assert!(ctx.handed_out_any());
        assert_eq!(ctx.mask("echo: hunter2-long!"), "echo: ${secret:PASSWORD}!");
    }
}
