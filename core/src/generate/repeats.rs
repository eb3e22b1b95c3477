//! Values that differ across repeats of the same request: when the same call
//! (method, target, body, and who asked: its credential headers such as
//! Authorization and Cookie) was made more than once with no state-changing call
//! in between, and a response field came back different each time, it is
//! volatile (a counter, a random pick, a clock) and becomes a typed matcher in
//! every one of those cases. Calls separated by a POST/PUT/PATCH/DELETE are not
//! repeats: their answers may differ for a reason the suite must check.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::matcher::{accepts, as_matcher, format_kind, MARKER};
use crate::suite::{BodySpec, CaseFile, MockSpec};
use crate::template::has_placeholder;

/// The scalar leaves of `v` by JSON path, leaving out matchers and references.
pub fn leaves(v: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    if as_matcher(v).is_some() {
        return;
    }
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, c)| leaves(c, crate::json_path::child(&path, k), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| leaves(c, format!("{path}[{i}]"), out)),
        Value::String(s) if has_placeholder(s) => {}
        leaf => {
            out.insert(path, leaf.clone());
        }
    }
}

/// Replaces the value at a JSON path like `$.items[0].id`, if it is there.
pub fn set(v: &mut Value, path: &str, to: Value) {
    if let Some(slot) = crate::json_path::at_mut(v, path) {
        *slot = to;
    }
}

/// What the samples of one path have in common so far, folded one sample
/// at a time: a group of repeats is read as a stream, never held.
#[derive(Debug, Clone)]
struct Path {
    first: Value,
    /// Samples that have the path.
    present: usize,
    equal: bool,
    /// The first sample's volatile format, while every sample has it.
    format: Option<&'static str>,
    numbers: bool,
    strings: bool,
    booleans: bool,
}

impl Path {
    fn new(first: Value, near: i64) -> Self {
        Path {
            format: format_kind(&first, near),
            numbers: first.is_number(),
            strings: first.is_string(),
            booleans: first.is_boolean(),
            first,
            present: 1,
            equal: true,
        }
    }

    fn add(&mut self, v: &Value) {
        self.present += 1;
        self.equal &= *v == self.first;
        self.format = self.format.filter(|k| accepts(k, v));
        self.numbers &= v.is_number();
        self.strings &= v.is_string();
        self.booleans &= v.is_boolean();
    }

    /// The most specific matcher all of `samples` samples satisfy, when
    /// every one has the path and they differ: a volatile format they all
    /// have (a UUID in every sample is a `uuid`, not any `string`), else the
    /// one JSON type they share. A path whose values differ in JSON type
    /// has none: a field that changes type is a change the suite must
    /// catch, and no matcher short of "anything" would take it.
    fn kind(&self, samples: usize) -> Option<&'static str> {
        if self.present != samples || self.equal {
            return None;
        }
        self.matcher()
    }

    /// A volatile format all samples have, else the JSON type they share.
    fn matcher(&self) -> Option<&'static str> {
        self.format.or(if self.numbers {
            Some("number")
        } else if self.strings {
            Some("string")
        } else if self.booleans {
            Some("boolean")
        } else {
            None
        })
    }
}

/// The leaves of samples of one body, folded.
#[derive(Debug, Clone, Default)]
struct Samples {
    paths: BTreeMap<String, Path>,
    count: usize,
}

impl Samples {
    fn first(leaves: BTreeMap<String, Value>, near: i64) -> Self {
        Samples {
            paths: leaves
                .into_iter()
                .map(|(p, v)| (p, Path::new(v, near)))
                .collect(),
            count: 1,
        }
    }

    fn add(&mut self, leaves: &BTreeMap<String, Value>) {
        self.count += 1;
        for (path, acc) in &mut self.paths {
            if let Some(v) = leaves.get(path) {
                acc.add(v);
            }
        }
    }

    fn differing(&self) -> Vec<(String, &'static str)> {
        self.paths
            .iter()
            .filter_map(|(p, acc)| Some((p.clone(), acc.kind(self.count)?)))
            .collect()
    }
}

/// The paths whose values differ between `bodies` (present in all of them),
/// with the most specific matcher kind that accepts every value seen (see
/// [`Path::kind`]); `near` is the time epoch values are near.
pub fn differing(bodies: &[BTreeMap<String, Value>], near: i64) -> Vec<(String, &'static str)> {
    let Some((first, rest)) = bodies.split_first() else {
        return Vec::new();
    };
    let mut samples = Samples::first(first.clone(), near);
    rest.iter().for_each(|b| samples.add(b));
    samples.differing()
}

/// The most specific matcher all `values` satisfy: a volatile format they
/// all have (a UUID in every sample is a `uuid`, not any `string`), else the
/// one JSON type they share, if they share one.
pub fn kind_of(values: &[&Value], near: i64) -> Option<&'static str> {
    let (first, rest) = values.split_first()?;
    let mut p = Path::new((*first).clone(), near);
    rest.iter().for_each(|v| p.add(v));
    p.matcher()
}

fn body_leaves(case: &CaseFile) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some(v) = case.response.body.as_ref().and_then(BodySpec::as_json) {
        leaves(v, "$".into(), &mut out);
    }
    out
}

/// One call made again and again with no write between.
#[derive(Debug)]
struct Group {
    /// Case indexes in the session.
    members: Vec<usize>,
    status: u16,
    same_status: bool,
    /// The first member's answer, folded with the others' as they come.
    samples: Samples,
}

/// A field to loosen in a case the generator has already handed on.
#[derive(Debug, Clone)]
pub struct Loosen {
    pub case: usize,
    pub path: String,
    pub kind: &'static str,
}

/// Repeats, found as cases stream by. A group of repeats ends at the next
/// write (or the end of the session); its members still at hand are
/// loosened in place, the others are returned as [`Loosen`] patches.
#[derive(Debug, Default)]
pub struct Repeats {
    groups: std::collections::HashMap<u64, Group>,
    /// Group keys in the order the groups began.
    order: Vec<u64>,
}

/// The cases at hand: `cases[i - base]` is case `i` of the session.
pub struct AtHand<'c> {
    pub cases: &'c mut [(String, CaseFile, Vec<MockSpec>)],
    pub base: usize,
}

impl Repeats {
    /// Takes the cases at hand, in order; `read` gives back a case handed
    /// on before, `stems` names every case so far.
    pub fn observe(
        &mut self,
        at: &mut AtHand,
        stems: &[String],
        patches: &mut Vec<Loosen>,
        report: &mut Vec<(String, String, &'static str)>,
    ) {
        for j in 0..at.cases.len() {
            let i = at.base + j;
            let case = &at.cases[j].1;
            let m = case.request.method.to_ascii_uppercase();
            if !matches!(m.as_str(), "GET" | "HEAD" | "OPTIONS") {
                self.close(at, stems, patches, report);
                continue;
            }
            let asker: String = case
                .request
                .headers
                .iter()
                .filter(|(n, _)| crate::secrets::is_credential_header(n))
                .map(|(n, v)| format!("{}: {v}\n", n.to_ascii_lowercase()))
                .collect();
            let key = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                m.hash(&mut h);
                case.request.target.hash(&mut h);
                serde_json::to_string(&case.request.body)
                    .unwrap_or_default()
                    .hash(&mut h);
                asker.hash(&mut h);
                h.finish()
            };
            let Some(group) = self.groups.get_mut(&key) else {
                let near = chrono::DateTime::parse_from_rfc3339(&case.recorded_at)
                    .map_or(0, |t| t.timestamp());
                self.order.push(key);
                self.groups.insert(
                    key,
                    Group {
                        members: vec![i],
                        status: case.response.status,
                        same_status: true,
                        samples: Samples::first(body_leaves(case), near),
                    },
                );
                continue;
            };
            group.same_status &= case.response.status == group.status;
            group.samples.add(&body_leaves(case));
            group.members.push(i);
        }
    }

    /// Ends every group: the session wrote, or ended.
    pub fn close(
        &mut self,
        at: &mut AtHand,
        stems: &[String],
        patches: &mut Vec<Loosen>,
        report: &mut Vec<(String, String, &'static str)>,
    ) {
        for key in std::mem::take(&mut self.order) {
            let Some(group) = self.groups.remove(&key) else {
                continue;
            };
            if group.members.len() < 2 || !group.same_status {
                continue;
            }
            let samples = group.samples;
            for (path, kind) in samples.differing() {
                for &i in &group.members {
                    match i.checked_sub(at.base) {
                        Some(j) => {
                            let case = &mut at.cases[j].1;
                            if let Some(v) =
                                case.response.body.as_mut().and_then(BodySpec::as_json_mut)
                            {
                                set(v, &path, json!({ MARKER: kind }));
                            }
                        }
                        None => patches.push(Loosen {
                            case: i,
                            path: path.clone(),
                            kind,
                        }),
                    }
                    report.push((stems[i].clone(), path.clone(), kind));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        leaves(&v, "$".into(), &mut out);
        out
    }

    #[test]
    fn values_that_differ_in_type_are_never_loosened() {
        let bodies = [
            body(json!({"n": 1, "s": "a", "b": true, "price": 3999, "same": 7})),
            body(json!({"n": 2, "s": "b", "b": false, "price": "3999", "same": 7})),
        ];
        assert_eq!(
            differing(&bodies, 0),
            [
                ("$.b".to_owned(), "boolean"),
                ("$.n".to_owned(), "number"),
                ("$.s".to_owned(), "string")
            ]
        );
    }

    #[test]
    fn a_format_every_sample_shares_is_the_matcher() {
        let at = 1_764_160_000;
        let bodies = [
            body(json!({"id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "at": at, "s": "abc"})),
            body(
                json!({"id": "6fa459ea-ee8a-3ca4-894e-db77e160355e", "at": at + 5, "s": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}),
            ),
        ];
        assert_eq!(
            differing(&bodies, at),
            [
                ("$.at".to_owned(), "epoch_seconds"),
                ("$.id".to_owned(), "uuid"),
                ("$.s".to_owned(), "string")
            ]
        );
    }
}
