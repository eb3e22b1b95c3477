//! JSON Schemas (2020-12, as OpenAPI 3.1 uses them) inferred from every
//! example seen at one place: the types that occurred, an object's
//! properties with those present in every example required, array items,
//! and for strings a format (uuid, date-time, date) when every value had it
//! and an enum when the evidence says the values are a closed set.
//!
//! A suite's matchers count as what they stand for (`{"$reel": "uuid"}` is
//! a uuid string), and a value that is a placeholder (a chained id, a
//! secret) is seen but says nothing of its type.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::matcher::{as_matcher, is_timestamp, is_uuid};
use crate::template::has_placeholder;

/// How many distinct values an enum may have.
const ENUM_MAX: usize = 5;
/// How many distinct string values are remembered for an enum.
const REMEMBER: usize = ENUM_MAX + 1;

/// What the examples of one place had.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    pub seen: usize,
    null: bool,
    boolean: bool,
    integer: bool,
    /// A number with a fraction (or beyond i64) was seen.
    fraction: bool,
    /// A value whose type is unknown (a placeholder, an `any` matcher).
    unknown: bool,
    strings: Option<Strings>,
    objects: Option<Objects>,
    arrays: Option<Box<Shape>>,
}

#[derive(Debug, Clone)]
struct Strings {
    count: usize,
    /// Formats every string so far had (None until the first string).
    formats: BTreeSet<&'static str>,
    /// Up to [`REMEMBER`] distinct values; None once one of them was not
    /// a value (a matcher's kind) or was not a short code.
    values: Option<BTreeSet<String>>,
}

#[derive(Debug, Clone, Default)]
struct Objects {
    count: usize,
    /// Each property: in how many objects, and its shape.
    props: BTreeMap<String, (usize, Shape)>,
}

/// String formats JSON Schema names that reel can tell apart reliably.
fn formats_of(s: &str) -> BTreeSet<&'static str> {
    let mut f = BTreeSet::new();
    if is_uuid(s) {
        f.insert("uuid");
    }
    if is_timestamp(s) && s.contains(['T', 't']) {
        f.insert("date-time");
    }
    if s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
        f.insert("date");
    }
    f
}

/// A value that reads as a code from a closed set (`USD`, `in_stock`).
fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

impl Shape {
    /// Adds one example.
    pub fn add(&mut self, v: &Value) {
        self.seen += 1;
        if let Some(kind) = as_matcher(v) {
            self.add_kind(kind);
            return;
        }
        match v {
            Value::Null => self.null = true,
            Value::Bool(_) => self.boolean = true,
            Value::Number(n) => {
                if n.is_i64() || n.is_u64() {
                    self.integer = true;
                } else {
                    self.fraction = true;
                }
            }
            Value::String(s) if has_placeholder(s) => self.unknown = true,
            Value::String(s) => self.add_string(Some(s), formats_of(s)),
            Value::Array(items) => {
                let inner = self.arrays.get_or_insert_with(Default::default);
                for i in items {
                    inner.add(i);
                }
            }
            Value::Object(m) => {
                let o = self.objects.get_or_insert_with(Default::default);
                o.count += 1;
                for (k, v) in m {
                    let slot = o.props.entry(k.clone()).or_default();
                    slot.0 += 1;
                    slot.1.add(v);
                }
            }
        }
    }

    /// Adds a path or query value, which is text: digits are an integer.
    pub fn add_text(&mut self, s: &str) {
        if !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) {
            self.add(&json!(s.parse::<i64>().unwrap_or(0)));
        } else {
            self.add(&Value::String(s.to_owned()));
        }
    }

    fn add_string(&mut self, value: Option<&str>, formats: BTreeSet<&'static str>) {
        match &mut self.strings {
            None => {
                self.strings = Some(Strings {
                    count: 1,
                    formats,
                    values: value
                        .filter(|v| is_code(v))
                        .map(|v| BTreeSet::from([v.to_owned()])),
                })
            }
            Some(s) => {
                s.count += 1;
                s.formats = s.formats.intersection(&formats).copied().collect();
                match (value.filter(|v| is_code(v)), &mut s.values) {
                    (Some(v), Some(set)) => {
                        if set.len() < REMEMBER || set.contains(v) {
                            set.insert(v.to_owned());
                        }
                        if set.len() >= REMEMBER {
                            s.values = None;
                        }
                    }
                    _ => s.values = None,
                }
            }
        }
    }

    /// A matcher of `kind` stands for a value of that kind.
    fn add_kind(&mut self, kind: &str) {
        match kind {
            "uuid" => self.add_string(None, BTreeSet::from(["uuid"])),
            "timestamp" => self.add_string(None, BTreeSet::from(["date-time"])),
            "epoch_seconds" | "epoch_millis" => self.integer = true,
            "number" => self.fraction = true,
            "boolean" => self.boolean = true,
            "any" => self.unknown = true,
            _ => self.add_string(None, BTreeSet::new()),
        }
    }

    /// The schema of what was seen. `closed` says whether a small set of
    /// codes seen often enough may be written as an enum here (the caller
    /// knows whether clients choose these values).
    pub fn schema(&self, closed: &dyn Fn(&[&str]) -> bool) -> Value {
        self.schema_at(&[], closed)
    }

    fn schema_at(&self, at: &[&str], closed: &dyn Fn(&[&str]) -> bool) -> Value {
        let mut types: Vec<&str> = Vec::new();
        let mut s = Map::new();
        if let Some(o) = &self.objects {
            types.push("object");
            let mut props = Map::new();
            let mut required = Vec::new();
            for (k, (n, shape)) in &o.props {
                let mut path = at.to_vec();
                path.push(k);
                props.insert(k.clone(), shape.schema_at(&path, closed));
                if *n == o.count {
                    required.push(Value::from(k.clone()));
                }
            }
            s.insert("properties".into(), Value::Object(props));
            if !required.is_empty() {
                s.insert("required".into(), Value::Array(required));
            }
        }
        if let Some(items) = &self.arrays {
            types.push("array");
            let mut path = at.to_vec();
            path.push("[]");
            s.insert("items".into(), items.schema_at(&path, closed));
        }
        if let Some(st) = &self.strings {
            types.push("string");
            for f in ["uuid", "date-time", "date"] {
                if st.formats.contains(f) {
                    s.insert("format".into(), f.into());
                    break;
                }
            }
            // Only where every value was a string (or null): an enum of the
            // strings would refuse the other types the traffic had.
            let only_strings = self.objects.is_none()
                && self.arrays.is_none()
                && !self.integer
                && !self.fraction
                && !self.boolean;
            if let Some(values) = st.values.as_ref().filter(|_| only_strings) {
                let few = values.len() <= ENUM_MAX && st.count >= 4 && st.count >= 2 * values.len();
                if few && !s.contains_key("format") && closed(at) {
                    let mut e: Vec<Value> = values.iter().map(|v| Value::from(v.clone())).collect();
                    if self.null {
                        e.push(Value::Null);
                    }
                    s.insert("enum".into(), Value::Array(e));
                }
            }
        }
        if self.fraction {
            types.push("number");
        } else if self.integer {
            types.push("integer");
        }
        if self.boolean {
            types.push("boolean");
        }
        if types.is_empty() {
            // Only placeholders, `any` or null: nothing is known of the
            // type (a field that was null each time may not be the next).
            if self.null && !self.unknown {
                s.insert("description".into(), "only null was recorded".into());
            }
            return Value::Object(s);
        }
        if self.null {
            types.push("null");
        }
        if self.unknown {
            // A placeholder stood here too: its type is not known, so the
            // types seen do not bound it.
            s.remove("enum");
            return Value::Object(s);
        }
        let t = if types.len() == 1 {
            Value::from(types[0])
        } else {
            Value::Array(types.into_iter().map(Value::from).collect())
        };
        let mut out = Map::new();
        out.insert("type".into(), t);
        out.extend(s);
        Value::Object(out)
    }
}
