//! JSON paths, the one way reel writes and reads them: `$.items[0].id`,
//! with a key that would end a plain step (`.`, `[`, `]`, `"`, `\`, `{`, `}`,
//! a lone `*`, or an empty key) written as a JSON string, `$["a.json"]`. Braces in
//! such a key are written `\u007b` and `\u007d`, so a `${...}` placeholder
//! holding the path still ends at its own `}`.
//!
//! Generated matchers and references, the diff's "differs at" lines, noise
//! paths in suite files, loosened fields and the mock's body comparison all
//! go through here, so a path one of them writes is one every other reads.
//! Patterns (noise paths) may also hold `.*` (any key) and `[*]` (any
//! index), and `['key']` as many JSONPath users write it.

use std::fmt;

use serde_json::Value;

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
    /// `.*`: any key (patterns only).
    AnyKey,
    /// `[*]`: any index (patterns only).
    AnyIndex,
}

/// The path of `key` inside the value at `path`.
pub fn child(path: &str, key: &str) -> String {
    let mut s = path.to_owned();
    push_key(&mut s, key);
    s
}

/// The path of element `i` of the array at `path`.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn plain(key: &str) -> bool {
    !key.is_empty() && key != "*" && !key.contains(['.', '[', ']', '"', '\\', '{', '}'])
}

fn push_key(s: &mut String, key: &str) {
    if plain(key) {
        s.push('.');
        s.push_str(key);
        return;
    }
    let quoted = Value::String(key.to_owned())
        .to_string()
        .replace('{', "\\u007b")
        .replace('}', "\\u007d");
    s.push('[');
    s.push_str(&quoted);
    s.push(']');
}

/// A path written as steps: `$` then each step, escaped as [`child`] does.
pub fn show(steps: &[Step]) -> String {
    let mut s = String::from("$");
    for step in steps {
        match step {
            Step::Key(k) => push_key(&mut s, k),
            Step::Index(i) => s.push_str(&format!("[{i}]")),
            Step::AnyKey => s.push_str(".*"),
            Step::AnyIndex => s.push_str("[*]"),
        }
    }
    s
}

/// Steps shown as a path, for `format!`.
pub struct Shown<'a>(pub &'a [Step]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&show(self.0))
    }
}

/// The steps of a path as [`child`] writes it; a leading `$` is optional,
/// and so is the first dot (`items[0].id`). An error says what is wrong
/// where.
pub fn parse(path: &str) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    if !rest.is_empty() && !rest.starts_with(['.', '[']) {
        // A bare first key, as in `items[0]`.
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        out.push(key_step(&rest[..end]));
        rest = &rest[end..];
    }
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(format!("an empty key at '{rest}' in '{path}'"));
            }
            if r[..end].contains(']') {
                return Err(format!("a ']' with no '[' in '{path}'"));
            }
            out.push(key_step(&r[..end]));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("[\"") {
            // A JSON string: it ends at the first quote no backslash escapes.
            let mut escaped = false;
            let close = r
                .char_indices()
                .find(|&(_, c)| {
                    let end = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    end
                })
                .map(|(i, _)| i)
                .ok_or_else(|| format!("an unclosed '[\"' in '{path}'"))?;
            let key: String = serde_json::from_str(&format!("\"{}\"", &r[..close]))
                .map_err(|e| format!("a bad key '{}' in '{path}': {e}", &r[..close]))?;
            out.push(Step::Key(key));
            rest = r[close + 1..]
                .strip_prefix(']')
                .ok_or_else(|| format!("an unclosed '[' in '{path}'"))?;
        } else if let Some(r) = rest.strip_prefix("['") {
            let close = r
                .find("']")
                .ok_or_else(|| format!("an unclosed \"['\" in '{path}'"))?;
            out.push(Step::Key(r[..close].to_owned()));
            rest = &r[close + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("an unclosed '[' in '{path}'"))?;
            out.push(match &r[..end] {
                "*" => Step::AnyIndex,
                i => Step::Index(
                    i.parse()
                        .map_err(|_| format!("a bad index '{i}' in '{path}'"))?,
                ),
            });
            rest = &r[end + 1..];
        } else {
            return Err(format!("cannot follow '{rest}' in '{path}'"));
        }
    }
    Ok(out)
}

fn key_step(key: &str) -> Step {
    match key {
        "*" => Step::AnyKey,
        k => Step::Key(k.to_owned()),
    }
}

/// The value at `path` in `v`, to change it; None where it is not there
/// (or the path holds a wildcard or does not parse).
pub fn at_mut<'a>(v: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut cur = v;
    for step in parse(path).ok()? {
        cur = match step {
            Step::Key(k) => cur.get_mut(k.as_str())?,
            Step::Index(i) => cur.get_mut(i)?,
            Step::AnyKey | Step::AnyIndex => return None,
        };
    }
    Some(cur)
}

/// Whether `pattern` names `path` or a node above it: a noise path covers
/// everything below the node it names.
pub fn covers(pattern: &[Step], path: &[Step]) -> bool {
    pattern.len() <= path.len()
        && pattern.iter().zip(path).all(|(p, s)| match (p, s) {
            (Step::AnyKey, Step::Key(_)) | (Step::AnyIndex, Step::Index(_)) => true,
            (a, b) => a == b,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_key_reads_back_as_written() {
        let keys = [
            "id",
            "a.b",
            "/contribute.json",
            "[0]",
            "",
            "*",
            "say \"hi\"",
            "back\\slash",
            "${secret:X}",
            "it's",
            "ключ",
        ];
        for key in keys {
            let path = child("$", key);
            assert_eq!(parse(&path), Ok(vec![Step::Key(key.into())]), "{path}");
            assert_eq!(show(&parse(&path).unwrap()), path);
            // A placeholder holding the path ends at its own brace.
            assert!(!path.contains(['{', '}']), "{path}");
        }
    }

    #[test]
    fn patterns_take_wildcards_and_single_quotes_and_cover_what_is_below() {
        let pattern = parse("$.items[*].*").unwrap();
        assert_eq!(
            pattern,
            vec![Step::Key("items".into()), Step::AnyIndex, Step::AnyKey]
        );
        let path = parse(&child(&index("$.items", 3), "a.b")).unwrap();
        assert!(covers(&pattern, &path));
        assert!(covers(&parse("$['items']").unwrap(), &path));
        assert!(!covers(&parse("$.items[*].c").unwrap(), &path));
        assert_eq!(parse("items[0]"), parse("$.items[0]"));
    }

    #[test]
    fn bad_paths_say_what_and_where() {
        for (path, says) in [
            ("$.a[", "an unclosed '['"),
            ("$.a[x]", "a bad index 'x'"),
            ("$[\"a", "an unclosed '[\"'"),
            ("$..a", "an empty key"),
            ("$.a]", "a ']' with no '['"),
            ("$.a[0]x", "cannot follow 'x'"),
        ] {
            let e = parse(path).unwrap_err();
            assert!(e.contains(says) && e.contains(path), "{path}: {e}");
        }
    }

    #[test]
    fn a_value_under_a_dotted_key_can_be_changed() {
        let mut v = json!({"a.b": [{"c": 1}]});
        let path = child(&index(&child("$", "a.b"), 0), "c");
        *at_mut(&mut v, &path).unwrap() = json!(2);
        assert_eq!(v, json!({"a.b": [{"c": 2}]}));
        assert!(at_mut(&mut v, "$.a.b").is_none());
    }
}
