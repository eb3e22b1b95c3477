//! Placeholders in suite files, filled in at replay:
//!
//! - `${secret:NAME}`: a secret kept out of the suite, taken from the
//!   environment (`REEL_SECRET_NAME`) or `.reel/secrets.toml`;
//! - `${secret:NAME:number}`, `${secret:NAME:boolean}`: a secret that was a JSON
//!   number or boolean (a numeric PIN). Secrets are kept as text everywhere
//!   (secrets file, environment), so the type lives in the placeholder: as a
//!   whole JSON string it fills back as that number or boolean;
//! - `${0003.response.body.id}`, `${0003.response.header.location}`: a value an
//!   earlier case's response produced this run (an id the app handed out, a
//!   token from a login), so a fresh app that hands out other ids still passes.
//!
//! A JSON string that is exactly one placeholder becomes the referenced JSON
//! value with its type (a number stays a number); elsewhere placeholders are
//! replaced as text.

use serde_json::Value;

use crate::json_path::{self, Step};

/// Where placeholder values come from.
pub trait Resolver {
    fn secret(&self, name: &str) -> Result<String, String>;
    /// `case` is the case number (four digits or more), `path` what follows `response.`.
    fn response(&self, case: &str, path: &str) -> Result<Value, String>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder<'a> {
    Secret(&'a str),
    /// A secret standing for a JSON number or boolean.
    TypedSecret(&'a str, SecretType),
    Response {
        case: &'a str,
        path: &'a str,
    },
}

/// What JSON type a typed secret's text stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretType {
    Number,
    Bool,
}

impl SecretType {
    /// The type of a JSON value that can be a typed secret.
    pub fn of(v: &Value) -> Option<Self> {
        match v {
            Value::Number(_) => Some(SecretType::Number),
            Value::Bool(_) => Some(SecretType::Bool),
            _ => None,
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            SecretType::Number => "number",
            SecretType::Bool => "boolean",
        }
    }

    /// `text` as a JSON value of this type; text that is not one (a secret
    /// set to something else) is passed on as a string, as given.
    fn fill(self, text: String) -> Value {
        match serde_json::from_str::<Value>(text.trim()) {
            Ok(v) if SecretType::of(&v) == Some(self) => v,
            _ => Value::String(text),
        }
    }
}

/// Parses the inside of `${...}`.
pub fn parse(inner: &str) -> Option<Placeholder<'_>> {
    if let Some(name) = inner.strip_prefix("secret:") {
        // Names are upper snake case, so a `:` only ever starts a type.
        let typed = match name.rsplit_once(':') {
            Some((n, "number")) => Some((n, SecretType::Number)),
            Some((n, "boolean")) => Some((n, SecretType::Bool)),
            Some(_) => return None,
            None => None,
        };
        return match typed {
            Some((n, ty)) => (!n.is_empty()).then_some(Placeholder::TypedSecret(n, ty)),
            None => (!name.is_empty()).then_some(Placeholder::Secret(name)),
        };
    }
    let (case, rest) = inner.split_once('.')?;
    let path = rest.strip_prefix("response.")?;
    (case.len() >= 4 && case.bytes().all(|b| b.is_ascii_digit()))
        .then_some(Placeholder::Response { case, path })
}

pub fn has_placeholder(s: &str) -> bool {
    find(s).is_some()
}

/// The names of the secrets `s` has placeholders for, in order.
pub fn secret_names(s: &str) -> Vec<&str> {
    placeholders(s)
        .filter_map(|p| match p {
            Placeholder::Secret(n) | Placeholder::TypedSecret(n, _) => Some(n),
            Placeholder::Response { .. } => None,
        })
        .collect()
}

/// The case numbers whose answers `s` refers to (`${0003.response.body.id}`
/// names `0003`), in order.
pub fn response_cases(s: &str) -> Vec<&str> {
    placeholders(s)
        .filter_map(|p| match p {
            Placeholder::Response { case, .. } => Some(case),
            _ => None,
        })
        .collect()
}

/// Every placeholder in `s`, in order.
fn placeholders(s: &str) -> impl Iterator<Item = Placeholder<'_>> {
    let mut rest = s;
    std::iter::from_fn(move || {
        let (_, end, inner) = find(rest)?;
        rest = &rest[end..];
        parse(inner)
    })
}

/// The first placeholder in `s`: (start, end, inner).
fn find(s: &str) -> Option<(usize, usize, &str)> {
    let mut from = 0;
    while let Some(i) = s[from..].find("${") {
        let start = from + i;
        let len = s[start + 2..].find('}')?;
        let inner = &s[start + 2..start + 2 + len];
        if parse(inner).is_some() {
            return Some((start, start + 3 + len, inner));
        }
        from = start + 2;
    }
    None
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn lookup(inner: &str, r: &dyn Resolver) -> Result<Value, String> {
    match parse(inner) {
        Some(Placeholder::Secret(name)) => r.secret(name).map(Value::String),
        Some(Placeholder::TypedSecret(name, ty)) => r.secret(name).map(|t| ty.fill(t)),
        Some(Placeholder::Response { case, path }) => r.response(case, path),
        None => Err(format!("'${{{inner}}}' is not a placeholder")),
    }
}

/// Fills every placeholder in `s` as text.
pub fn resolve_str(s: &str, r: &dyn Resolver) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some((start, end, inner)) = find(rest) {
        out.push_str(&rest[..start]);
        out.push_str(&value_text(&lookup(inner, r)?));
        rest = &rest[end..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Fills placeholders in a JSON value; a string that is one whole placeholder
/// takes the referenced value's type.
pub fn resolve_json(v: &Value, r: &dyn Resolver) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => match find(s) {
            Some((0, end, inner)) if end == s.len() => lookup(inner, r)?,
            Some(_) => Value::String(resolve_str(s, r)?),
            None => v.clone(),
        },
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| resolve_json(x, r))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), resolve_json(x, r)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Follows `body.items[0].id` (or `header.location`) into a response's parts.
pub fn select<'a>(
    body: Option<&'a Value>,
    headers: &'a [(String, String)],
    path: &str,
) -> Result<Value, String> {
    if let Some(name) = path.strip_prefix("header.") {
        return headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| Value::String(v.clone()))
            .ok_or_else(|| format!("the response has no header '{name}'"));
    }
    let rest = path
        .strip_prefix("body")
        .ok_or_else(|| format!("'{path}' names neither body nor header"))?;
    let mut cur = body.ok_or("the response has no JSON body")?;
    for step in json_path::parse(rest)? {
        cur = match step {
            Step::Key(k) => cur
                .get(k.as_str())
                .ok_or_else(|| format!("the response body has no '{k}'"))?,
            Step::Index(i) => cur
                .get(i)
                .ok_or_else(|| format!("the response body has no element {i}"))?,
            Step::AnyKey | Step::AnyIndex => {
                return Err(format!(
                    "'{path}' holds a wildcard; a reference names one value"
                ))
            }
        };
    }
    Ok(cur.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases a text refers to, by the placeholders replay fills: a
    /// secret is none, and `${7.response...}` (a case number is four digits
    /// or more) is no placeholder at all.
    #[test]
    fn response_cases_are_the_cases_placeholders_refer_to() {
        let text = r#"{"target":"/a/${0012.response.body.id}","x":"${secret:KEY}","y":"${7.response.status}","z":"${0003.response.header.location}"}"#;
        assert_eq!(response_cases(text), ["0012", "0003"]);
        assert_eq!(secret_names(text), ["KEY"]);
    }
    use serde_json::json;

    struct Fixed;
    impl Resolver for Fixed {
        fn secret(&self, name: &str) -> Result<String, String> {
            match name {
                "TOKEN" => Ok("s3cr3t".into()),
                _ => Err(format!("secret {name} is not set")),
            }
        }
        fn response(&self, case: &str, path: &str) -> Result<Value, String> {
            let body = json!({"id": 43, "items": [{"id": "abc"}]});
            let headers = vec![("Location".to_owned(), "/books/43".to_owned())];
            match case {
                "0003" => select(Some(&body), &headers, path),
                _ => Err(format!("case {case} has not run")),
            }
        }
    }

    #[test]
    fn fills_text_and_typed_json() {
        assert_eq!(
            resolve_str("/books/${0003.response.body.id}?t=${secret:TOKEN}", &Fixed).unwrap(),
            "/books/43?t=s3cr3t"
        );
        assert_eq!(
            resolve_json(&json!({"book": "${0003.response.body.id}", "x": "id-${0003.response.body.items[0].id}"}), &Fixed)
                .unwrap(),
            json!({"book": 43, "x": "id-abc"})
        );
        assert_eq!(
            resolve_str("${0003.response.header.location}", &Fixed).unwrap(),
            "/books/43"
        );
        assert_eq!(
            resolve_str("price ${5} and ${x}", &Fixed).unwrap(),
            "price ${5} and ${x}"
        );
    }

    #[test]
    fn a_typed_secret_fills_back_as_its_json_type() {
        struct Pin;
        impl Resolver for Pin {
            fn secret(&self, name: &str) -> Result<String, String> {
                match name {
                    "PIN" => Ok("987654".into()),
                    "OPT_IN" => Ok("true".into()),
                    _ => Ok("not-a-number".into()),
                }
            }
            fn response(&self, _: &str, _: &str) -> Result<Value, String> {
                Err("none".into())
            }
        }
        assert_eq!(
            resolve_json(
                &json!({"pin": "${secret:PIN:number}", "opt_in": "${secret:OPT_IN:boolean}", "plain": "${secret:PIN}", "in_text": "pin ${secret:PIN:number}", "odd": "${secret:X:number}"}),
                &Pin
            )
            .unwrap(),
            json!({"pin": 987654, "opt_in": true, "plain": "987654", "in_text": "pin 987654", "odd": "not-a-number"})
        );
        assert_eq!(
            parse("secret:PIN:number"),
            Some(Placeholder::TypedSecret("PIN", SecretType::Number))
        );
        assert_eq!(parse("secret:PIN:float"), None);
    }

    #[test]
    fn a_path_with_any_key_reads_back_as_written() {
        let keys = [
            "id",
            "/contribute.json",
            "a[0]",
            "",
            "say \"hi\"",
            "${0001.response.body.x}",
            "back\\slash",
            "collection:schema",
        ];
        let mut path = String::from("body");
        for k in keys {
            path = json_path::child(&path, k);
        }
        assert!(path.starts_with("body.id[\"/contribute.json\"]"), "{path}");
        assert!(!path.contains(['{', '}']), "{path}");
        let read = json_path::parse(path.strip_prefix("body").unwrap()).unwrap();
        let want: Vec<Step> = keys.iter().map(|k| Step::Key((*k).to_owned())).collect();
        assert_eq!(read, want);
        // Inside a placeholder, the placeholder still ends at its own brace.
        let doc = json!({"a.b": {"{x}": [7]}});
        let p = json_path::child(&json_path::child("body", "a.b"), "{x}") + "[0]";
        struct Doc(Value);
        impl Resolver for Doc {
            fn secret(&self, n: &str) -> Result<String, String> {
                Err(n.into())
            }
            fn response(&self, _: &str, path: &str) -> Result<Value, String> {
                select(Some(&self.0), &[], path)
            }
        }
        assert_eq!(
            resolve_str(&format!("n=${{0001.response.{p}}}!"), &Doc(doc)).unwrap(),
            "n=7!"
        );
    }

    #[test]
    fn missing_values_are_errors_that_say_why() {
        assert_eq!(
            resolve_str("${secret:NOPE}", &Fixed).unwrap_err(),
            "secret NOPE is not set"
        );
        assert!(resolve_str("${0009.response.body.id}", &Fixed)
            .unwrap_err()
            .contains("0009"));
        assert!(resolve_str("${0003.response.body.nope}", &Fixed)
            .unwrap_err()
            .contains("nope"));
    }
}
