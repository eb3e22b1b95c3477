//! Comparing an actual response with the expected one under noise rules.
//!
//! Status, headers (minus ignored ones; volatile ones by form, see [`loose`];
//! lists whose order means nothing as sets, see [`sets`]; values with
//! `${reel:KIND}` slots by [`pattern`]) and body are compared. Bodies are
//! compared decoded from their `Content-Encoding`, which is compared as a
//! header. JSON bodies, and JSON lines line by line, are compared by
//! structure and value, each difference named by its JSON path (line 2 of
//! JSON lines is `$[1]`); typed matchers (`{"$reel": "uuid"}`) accept any
//! value of their kind; ignored paths are skipped. A body matcher
//! (`{"$reel": {"kind": "bytes"}}`) takes any body of its kind and length.
//! Other bodies are compared as text or bytes.

use reel_core::coding;
use reel_core::json_path::{self, Step};
use reel_core::matcher::{accepts, as_matcher};
use reel_core::suite::{BodySpec, Noise, ResponseSpec};
use serde_json::Value;

use crate::diff::unified;
use crate::model::{ActualResponse, Difference};

/// Noise rules in force for one case: the suite's plus the case's own.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    headers: Vec<String>,
    paths: Vec<Vec<Step>>,
}

impl Rules {
    pub fn new(layers: &[&Noise]) -> Self {
        let mut r = Rules::default();
        for n in layers {
            r.headers
                .extend(n.headers.iter().map(|h| h.to_ascii_lowercase()));
            // The loader checked every noise path (`check_noise`).
            r.paths
                .extend(n.body_paths.iter().filter_map(|p| json_path::parse(p).ok()));
        }
        r
    }

    pub fn ignores_header(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.headers.contains(&name)
    }

    /// Whether the JSON node at `path` is ignored.
    pub fn ignores_steps(&self, path: &[Step]) -> bool {
        self.ignores_path(path)
    }

    pub fn has_paths(&self) -> bool {
        !self.paths.is_empty()
    }

    fn ignores_path(&self, path: &[Step]) -> bool {
        self.paths.iter().any(|p| json_path::covers(p, path))
    }
}

/// The outcome of one comparison.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub differences: Vec<Difference>,
    /// Unified diff of the pretty-printed responses; empty when equal.
    pub diff: String,
}

pub fn compare(expected: &ResponseSpec, actual: &ActualResponse, rules: &Rules) -> Comparison {
    let mut differences = Vec::new();
    if expected.status != actual.status {
        differences.push(Difference {
            path: "status".into(),
            expected: Some(expected.status.to_string()),
            actual: Some(actual.status.to_string()),
        });
    }
    let exp_headers = compared_headers(&expected.headers, rules);
    let act_headers = compared_headers(&actual.headers, rules);
    let mut names: Vec<&String> = exp_headers.iter().map(|(n, _)| n).collect();
    for (n, _) in &act_headers {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    // Loose headers whose form held (or that the recording did not have).
    let mut held: Vec<&str> = Vec::new();
    for name in names {
        let values = |hs: &[(String, String)]| -> Vec<String> {
            hs.iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let (e, a) = (values(&exp_headers), values(&act_headers));
        let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(", "));
        let patterned = e.iter().any(|v| pattern::has_slots(v));
        if patterned {
            let fits = e.len() == a.len() && e.iter().zip(&a).all(|(p, v)| pattern::accepts(p, v));
            if fits {
                held.push(name);
            } else {
                differences.push(Difference {
                    path: format!("header {name}"),
                    expected: joined(&e),
                    actual: joined(&a),
                });
            }
        } else if name == "content-encoding" {
            // Compared as the codings they name: `x-gzip` is `gzip`, and a
            // body now sent as it is where it was compressed is named so.
            let codings = |v: &[String]| {
                coding::parse_list(&v.join(","))
                    .map(|c| coding::describe(&c))
                    .unwrap_or_else(|_| v.join(", "))
            };
            let (ce, ca) = (codings(&e), codings(&a));
            if ce != ca {
                let show = |c: String| {
                    if c.is_empty() {
                        "identity (not encoded)".to_owned()
                    } else {
                        c
                    }
                };
                differences.push(Difference {
                    path: format!("header {name}"),
                    expected: Some(show(ce)),
                    actual: Some(show(ca)),
                });
            }
        } else if sets::is_set(name) {
            match sets::check(name, &e, &a) {
                None => held.push(name),
                Some((want, got)) => differences.push(Difference {
                    path: format!("header {name}"),
                    expected: Some(want),
                    actual: Some(got),
                }),
            }
        } else if loose::is_loose(name) {
            let e_strs: Vec<&str> = e.iter().map(String::as_str).collect();
            let a_strs: Vec<&str> = a.iter().map(String::as_str).collect();
            match loose::check(name, &e_strs, &a_strs) {
                // Not recorded (nothing to hold it to), or in the recorded form.
                None => held.push(name),
                Some(want) => differences.push(Difference {
                    path: format!("header {name}"),
                    expected: Some(want),
                    actual: joined(&a),
                }),
            }
        } else if e != a {
            differences.push(Difference {
                path: format!("header {name}"),
                expected: joined(&e),
                actual: joined(&a),
            });
        }
    }
    let (shown_exp_headers, shown_act_headers) = shown_headers(&exp_headers, &act_headers, &held);

    let (shown_expected, shown_actual) = compare_body(expected, actual, rules, &mut differences);

    let diff = if differences.is_empty() {
        String::new()
    } else {
        unified(
            &render(expected.status, &shown_exp_headers, shown_expected.as_ref()),
            &render(actual.status, &shown_act_headers, shown_actual.as_ref()),
        )
    };
    Comparison { differences, diff }
}

/// Compares the (decoded) bodies, adding each difference; returns the two
/// bodies as the diff shows them: where a matcher or an ignored path took the
/// actual value, the expected side shows it too, so only changes stand out.
fn compare_body(
    expected: &ResponseSpec,
    actual: &ActualResponse,
    rules: &Rules,
    differences: &mut Vec<Difference>,
) -> (Option<BodySpec>, Option<BodySpec>) {
    if let Some(why) = &actual.undecoded {
        let sent = actual
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
            .map_or("", |(_, v)| v.as_str());
        differences.push(Difference {
            path: "body".into(),
            expected: Some(format!("a body that decodes as {sent}")),
            actual: Some(why.clone()),
        });
        return (expected.body.clone(), actual.body.clone());
    }
    let same_form =
        |e: &BodySpec, a: &BodySpec| std::mem::discriminant(e) == std::mem::discriminant(a);
    match (&expected.body, &actual.body) {
        (Some(BodySpec::Matcher(m)), a) => {
            let bytes = a.as_ref().map(BodySpec::to_bytes).unwrap_or_default();
            if a.is_some() && m.accepts(&bytes) {
                return (actual.body.clone(), actual.body.clone());
            }
            differences.push(Difference {
                path: "body".into(),
                expected: Some(m.describe()),
                actual: Some(a.as_ref().map_or_else(|| "(absent)".into(), short_body)),
            });
            (expected.body.clone(), actual.body.clone())
        }
        (Some(e), Some(a)) if e.as_json().is_some() && same_form(e, a) => {
            let (ev, av) = (e.as_json().expect("JSON"), a.as_json().expect("JSON"));
            json_diff(ev, av, &mut Vec::new(), rules, differences);
            let shown = e.with_json(resolve(ev, av, &mut Vec::new(), rules));
            (Some(shown), actual.body.clone())
        }
        // Recorded as JSON lines, now one line or plain text: still by line.
        (Some(e @ (BodySpec::JsonLines(ev) | BodySpec::JsonSeq(ev))), Some(a))
            if a.lines_of().is_some() =>
        {
            let av = a.lines_of().expect("lines");
            json_diff(ev, &av, &mut Vec::new(), rules, differences);
            let shown = e.with_json(resolve(ev, &av, &mut Vec::new(), rules));
            (Some(shown), Some(e.with_json(av)))
        }
        (Some(BodySpec::TruncatedBase64(_)), a) => {
            let prefix = expected
                .body
                .as_ref()
                .map(BodySpec::to_bytes)
                .unwrap_or_default();
            let got = a.as_ref().map(BodySpec::to_bytes).unwrap_or_default();
            // Only the recorded prefix is known; show the actual body as
            // expected when it agrees, so the diff stays quiet.
            if got.starts_with(&prefix) {
                (actual.body.clone(), actual.body.clone())
            } else {
                differences.push(body_difference(&expected.body, &actual.body));
                (expected.body.clone(), actual.body.clone())
            }
        }
        (e, a) => {
            let same = e.as_ref().map(BodySpec::to_bytes) == a.as_ref().map(BodySpec::to_bytes);
            if !same {
                differences.push(body_difference(e, a));
            }
            (e.clone(), a.clone())
        }
    }
}

fn body_difference(e: &Option<BodySpec>, a: &Option<BodySpec>) -> Difference {
    Difference {
        path: "body".into(),
        expected: e.as_ref().map(short_body),
        actual: a.as_ref().map(short_body),
    }
}

/// One line, at most 120 characters: the diff below shows the whole body.
fn short_body(b: &BodySpec) -> String {
    let s = match b {
        BodySpec::Json(v) => v.to_string(),
        BodySpec::JsonLines(v) | BodySpec::JsonSeq(v) => {
            let n = v.as_array().map_or(0, Vec::len);
            format!("{n} JSON lines: {v}")
        }
        BodySpec::Matcher(m) => m.describe(),
        BodySpec::Text(t) => serde_json::to_string(t).expect("strings serialize"),
        BodySpec::Base64(_) | BodySpec::TruncatedBase64(_) => {
            format!("{} bytes of binary", b.to_bytes().len())
        }
    };
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

type Headers = Vec<(String, String)>;

/// The headers a diff shows: those compared by value, and loose ones only
/// where they failed their form (a volatile value that held is noise).
fn shown_headers(
    exp: &[(String, String)],
    act: &[(String, String)],
    held: &[&str],
) -> (Headers, Headers) {
    let shown = |hs: &[(String, String)]| {
        hs.iter()
            .filter(|(n, _)| !held.contains(&n.as_str()))
            .cloned()
            .collect()
    };
    (shown(exp), shown(act))
}

/// Lower-cased names, ignored ones dropped, in order.
pub fn compared_headers(headers: &[(String, String)], rules: &Rules) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(n, _)| !rules.ignores_header(n))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect()
}

/// How a response reads in a diff: status line, compared headers, body.
pub fn render(status: u16, headers: &[(String, String)], body: Option<&BodySpec>) -> String {
    let mut s = format!("HTTP {status}\n");
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\n"));
    }
    s.push('\n');
    match body {
        None => {}
        Some(BodySpec::Json(v)) => {
            s.push_str(&serde_json::to_string_pretty(v).expect("JSON values serialize"));
            s.push('\n');
        }
        Some(BodySpec::JsonLines(v) | BodySpec::JsonSeq(v)) => {
            for (i, line) in v
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                s.push_str(&format!("(line {})\n", i + 1));
                s.push_str(&serde_json::to_string_pretty(line).expect("JSON values serialize"));
                s.push('\n');
            }
        }
        Some(BodySpec::Matcher(m)) => {
            s.push_str(&format!("<{}>\n", m.describe()));
        }
        Some(BodySpec::Text(t)) => {
            s.push_str(t);
            if !t.ends_with('\n') {
                s.push('\n');
            }
        }
        Some(b @ (BodySpec::Base64(x) | BodySpec::TruncatedBase64(x))) => {
            s.push_str(&format!(
                "<{} bytes of binary, base64:>\n",
                b.to_bytes().len()
            ));
            for chunk in x.as_bytes().chunks(76) {
                s.push_str(&String::from_utf8_lossy(chunk));
                s.push('\n');
            }
        }
    }
    s
}

fn compact(v: &Value) -> String {
    v.to_string()
}

fn json_diff(e: &Value, a: &Value, path: &mut Vec<Step>, rules: &Rules, out: &mut Vec<Difference>) {
    if rules.ignores_path(path) {
        return;
    }
    if let Some(kind) = as_matcher(e) {
        if !accepts(kind, a) {
            out.push(Difference {
                path: json_path::show(path),
                expected: Some(format!("any {kind}")),
                actual: Some(compact(a)),
            });
        }
        return;
    }
    match (e, a) {
        (Value::Object(em), Value::Object(am)) => {
            for (k, ev) in em {
                path.push(Step::Key(k.clone()));
                match am.get(k) {
                    Some(av) => json_diff(ev, av, path, rules, out),
                    None if !rules.ignores_path(path) => out.push(Difference {
                        path: json_path::show(path),
                        expected: Some(compact(ev)),
                        actual: None,
                    }),
                    None => {}
                }
                path.pop();
            }
            for (k, av) in am {
                if !em.contains_key(k) {
                    path.push(Step::Key(k.clone()));
                    if !rules.ignores_path(path) {
                        out.push(Difference {
                            path: json_path::show(path),
                            expected: None,
                            actual: Some(compact(av)),
                        });
                    }
                    path.pop();
                }
            }
        }
        (Value::Array(ea), Value::Array(aa)) => {
            for i in 0..ea.len().max(aa.len()) {
                path.push(Step::Index(i));
                match (ea.get(i), aa.get(i)) {
                    (Some(ev), Some(av)) => json_diff(ev, av, path, rules, out),
                    (ev, av) if !rules.ignores_path(path) => out.push(Difference {
                        path: json_path::show(path),
                        expected: ev.map(compact),
                        actual: av.map(compact),
                    }),
                    _ => {}
                }
                path.pop();
            }
        }
        (e, a) if e == a => {}
        (e, a) => out.push(Difference {
            path: json_path::show(path),
            expected: Some(compact(e)),
            actual: Some(compact(a)),
        }),
    }
}

/// The expected value as the diff shows it: where a matcher accepts or a rule
/// ignores, the actual value stands in, so the diff shows only real changes.
fn resolve(e: &Value, a: &Value, path: &mut Vec<Step>, rules: &Rules) -> Value {
    if rules.ignores_path(path) {
        return a.clone();
    }
    if let Some(kind) = as_matcher(e) {
        return if accepts(kind, a) {
            a.clone()
        } else {
            e.clone()
        };
    }
    match (e, a) {
        (Value::Object(em), Value::Object(am)) => {
            let mut out = serde_json::Map::new();
            for (k, ev) in em {
                path.push(Step::Key(k.clone()));
                let v = match am.get(k) {
                    Some(av) => resolve(ev, av, path, rules),
                    None => ev.clone(),
                };
                path.pop();
                out.insert(k.clone(), v);
            }
            // Ignored keys only the actual has also appear on the expected side.
            for (k, av) in am {
                if !em.contains_key(k) {
                    path.push(Step::Key(k.clone()));
                    if rules.ignores_path(path) {
                        out.insert(k.clone(), av.clone());
                    }
                    path.pop();
                }
            }
            Value::Object(out)
        }
        (Value::Array(ea), Value::Array(aa)) => Value::Array(
            ea.iter()
                .enumerate()
                .map(|(i, ev)| {
                    path.push(Step::Index(i));
                    let v = match aa.get(i) {
                        Some(av) => resolve(ev, av, path, rules),
                        None => ev.clone(),
                    };
                    path.pop();
                    v
                })
                .collect(),
        ),
        _ => e.clone(),
    }
}

/// The expectation to write when accepting `actual`: its values, except where
/// the recorded `template` holds a matcher that accepts them or a placeholder
/// that resolved (in `resolved`) to exactly them; those stay as written, so an
/// accepted case still refers to earlier answers and secrets.
pub fn accepted_response(
    template: &ResponseSpec,
    resolved: &ResponseSpec,
    actual: &ActualResponse,
) -> ResponseSpec {
    let headers = actual
        .headers
        .iter()
        .map(|(n, v)| {
            let keep = template
                .headers
                .iter()
                .zip(&resolved.headers)
                .find(|((tn, _), (rn, rv))| {
                    tn.eq_ignore_ascii_case(n)
                        && rn.eq_ignore_ascii_case(n)
                        && (rv == v || (pattern::has_slots(rv) && pattern::accepts(rv, v)))
                })
                .map(|((_, tv), _)| tv.clone());
            (n.clone(), keep.unwrap_or_else(|| v.clone()))
        })
        .collect();
    let json = |b: &Option<BodySpec>| b.as_ref().and_then(BodySpec::as_json).cloned();
    let body = match (json(&template.body), json(&resolved.body), &actual.body) {
        (Some(t), Some(r), Some(a)) if a.as_json().is_some() => {
            Some(a.with_json(keep_expected(&t, &r, a.as_json().expect("JSON"))))
        }
        _ => accepted_body(template.body.as_ref(), actual.body.as_ref()),
    };
    ResponseSpec {
        status: actual.status,
        headers,
        body_encoding: actual.body_encoding.clone(),
        body,
    }
}

fn keep_expected(t: &Value, r: &Value, a: &Value) -> Value {
    if let Some(kind) = as_matcher(t) {
        return if accepts(kind, a) {
            t.clone()
        } else {
            a.clone()
        };
    }
    match (t, r, a) {
        (Value::String(ts), _, _) if reel_core::template::has_placeholder(ts) => {
            if r == a {
                t.clone()
            } else {
                a.clone()
            }
        }
        (Value::Object(tm), Value::Object(rm), Value::Object(am)) => Value::Object(
            am.iter()
                .map(|(k, av)| {
                    let v = match (tm.get(k), rm.get(k)) {
                        (Some(tv), Some(rv)) => keep_expected(tv, rv, av),
                        _ => av.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        (Value::Array(ta), Value::Array(ra), Value::Array(aa)) => Value::Array(
            aa.iter()
                .enumerate()
                .map(|(i, av)| match (ta.get(i), ra.get(i)) {
                    (Some(tv), Some(rv)) => keep_expected(tv, rv, av),
                    _ => av.clone(),
                })
                .collect(),
        ),
        _ => a.clone(),
    }
}

/// The expected response to keep when accepting `actual`: the actual values,
/// but matchers that still accept them stay matchers.
pub fn accepted_body(expected: Option<&BodySpec>, actual: Option<&BodySpec>) -> Option<BodySpec> {
    match (expected, actual) {
        (Some(BodySpec::Matcher(m)), Some(a)) if m.accepts(&a.to_bytes()) => expected.cloned(),
        (Some(e), Some(a)) => match (e.as_json(), a.as_json()) {
            (Some(ev), Some(av)) => Some(a.with_json(keep_matchers(ev, av))),
            _ => Some(a.clone()),
        },
        (_, a) => a.cloned(),
    }
}

fn keep_matchers(e: &Value, a: &Value) -> Value {
    if let Some(kind) = as_matcher(e) {
        return if accepts(kind, a) {
            e.clone()
        } else {
            a.clone()
        };
    }
    match (e, a) {
        (Value::Object(em), Value::Object(am)) => Value::Object(
            am.iter()
                .map(|(k, av)| {
                    let v = em
                        .get(k)
                        .map_or_else(|| av.clone(), |ev| keep_matchers(ev, av));
                    (k.clone(), v)
                })
                .collect(),
        ),
        (Value::Array(ea), Value::Array(aa)) => Value::Array(
            aa.iter()
                .enumerate()
                .map(|(i, av)| {
                    ea.get(i)
                        .map_or_else(|| av.clone(), |ev| keep_matchers(ev, av))
                })
                .collect(),
        ),
        _ => a.clone(),
    }
}

pub mod loose;
pub mod pattern;
pub mod sets;

#[cfg(test)]
mod tests;
