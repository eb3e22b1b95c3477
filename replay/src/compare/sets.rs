//! Headers whose comma-separated items form a set: their order means
//! nothing (`Allow: GET, HEAD` is `Allow: HEAD, GET`), and an app that builds
//! them from a hash map lists them in another order on every start. They are
//! compared as sets, across all lines of the header; items that name header
//! fields or cache directives ignore case as the specs say, methods do not.

use std::collections::BTreeSet;

/// How the items of a set header compare.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Items {
    /// Methods: case-sensitive (RFC 9110 9.1).
    Exact,
    /// Field names, range units, media types: case-insensitive.
    AnyCase,
    /// Cache directives: the name ignores case, an argument is exact.
    Directives,
}

const SET_HEADERS: &[(&str, Items)] = &[
    ("allow", Items::Exact),
    ("access-control-allow-methods", Items::Exact),
    ("vary", Items::AnyCase),
    ("access-control-allow-headers", Items::AnyCase),
    ("access-control-expose-headers", Items::AnyCase),
    ("access-control-request-headers", Items::AnyCase),
    ("trailer", Items::AnyCase),
    ("accept-ranges", Items::AnyCase),
    ("accept-patch", Items::AnyCase),
    ("accept-post", Items::AnyCase),
    ("cache-control", Items::Directives),
];

fn items_of(name: &str) -> Option<Items> {
    SET_HEADERS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, i)| *i)
}

/// Whether header `name` (any case) is compared as a set.
pub fn is_set(name: &str) -> bool {
    items_of(name).is_some()
}

/// The items of every line of a set header, normalized.
fn set(name: &str, values: &[String]) -> BTreeSet<String> {
    let how = items_of(name).unwrap_or(Items::Exact);
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(|i| match how {
            Items::Exact => i.to_owned(),
            Items::AnyCase => i.to_ascii_lowercase(),
            Items::Directives => match i.split_once('=') {
                Some((k, v)) => format!("{}={}", k.trim().to_ascii_lowercase(), v.trim()),
                None => i.to_ascii_lowercase(),
            },
        })
        .collect()
}

/// None when the two hold the same items; else what is missing and what is
/// new, in words.
pub fn check(name: &str, expected: &[String], actual: &[String]) -> Option<(String, String)> {
    let (e, a) = (set(name, expected), set(name, actual));
    if e == a && expected.is_empty() == actual.is_empty() {
        return None;
    }
    let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
    let missing: BTreeSet<String> = e.difference(&a).cloned().collect();
    let extra: BTreeSet<String> = a.difference(&e).cloned().collect();
    let mut got = format!("{{{}}}", list(&a));
    if !missing.is_empty() {
        got.push_str(&format!(", without {}", list(&missing)));
    }
    if !extra.is_empty() {
        got.push_str(&format!(", with {} too", list(&extra)));
    }
    if actual.is_empty() {
        got = "(absent)".into();
    }
    Some((format!("the set {{{}}}", list(&e)), got))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn order_and_line_breaks_mean_nothing() {
        assert!(check(
            "Allow",
            &v(&["GET, HEAD, OPTIONS"]),
            &v(&["OPTIONS,GET", "HEAD"])
        )
        .is_none());
        assert!(check(
            "vary",
            &v(&["Accept-Encoding, Origin"]),
            &v(&["origin, accept-encoding"])
        )
        .is_none());
        assert!(check(
            "cache-control",
            &v(&["no-cache, max-age=0, Must-Revalidate"]),
            &v(&["must-revalidate, no-cache, Max-Age=0"])
        )
        .is_none());
        assert!(is_set("Access-Control-Allow-Headers") && !is_set("content-type"));
    }

    #[test]
    fn a_changed_item_is_named() {
        assert_eq!(
            check("allow", &v(&["GET, HEAD"]), &v(&["GET, POST"])),
            Some((
                "the set {GET, HEAD}".into(),
                "{GET, POST}, without HEAD, with POST too".into()
            ))
        );
        // Methods are case-sensitive; a cache directive's argument is exact.
        assert!(check("allow", &v(&["GET"]), &v(&["get"])).is_some());
        assert!(check("cache-control", &v(&["max-age=60"]), &v(&["max-age=61"])).is_some());
        assert_eq!(
            check("vary", &v(&["Origin"]), &[])
                .map(|(_, a)| a)
                .as_deref(),
            Some("(absent)")
        );
    }
}
