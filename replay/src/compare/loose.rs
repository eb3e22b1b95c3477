//! Headers whose values differ on every run by nature (Date, ETag, Set-Cookie,
//! X-Request-Id, tracing headers: [`LOOSE_HEADERS`]) are compared by form, not
//! value. When the recording had one, the answer must still carry it, in the
//! form it had: a Date an HTTP date, an Age a number, an ETag a quoted (or
//! `W/` quoted) string, Set-Cookie the same cookie names, a request or trace id
//! the same shape. A recorded value that is not of its header's usual form
//! (`Expires: 0`) is compared as it is.

use reel_core::matcher::is_uuid;
use reel_core::suite::LOOSE_HEADERS;

/// Whether `name` (lower case) is compared by form.
pub fn is_loose(name: &str) -> bool {
    LOOSE_HEADERS.contains(&name)
}

/// None when the `actual` values of header `name` keep the form of the
/// recorded `expected` ones; else what was expected, in words.
pub fn check(name: &str, expected: &[&str], actual: &[&str]) -> Option<String> {
    let first = expected.first()?;
    if name == "set-cookie" {
        let want = cookie_names(expected);
        let got = cookie_names(actual);
        return (want != got || actual.is_empty()).then(|| {
            format!(
                "Set-Cookie for {} (any values and attributes)",
                want.join(", ")
            )
        });
    }
    let form = Form::of(name, first);
    (actual.is_empty() || !actual.iter().all(|a| form.accepts(a))).then(|| form.describe())
}

/// The form a recorded value sets for the answers.
#[derive(Debug, Clone, PartialEq)]
enum Form {
    HttpDate,
    Seconds,
    ETag {
        weak: bool,
    },
    Uuid,
    TraceParent,
    /// Letters and digits where the recording had them, the same separators.
    Shaped(String),
    Any,
    Exact(String),
}

impl Form {
    fn of(name: &str, recorded: &str) -> Form {
        let recorded = recorded.trim();
        match name {
            "date" | "last-modified" | "expires" if is_http_date(recorded) => Form::HttpDate,
            "age" if is_seconds(recorded) => Form::Seconds,
            "etag" => match etag_weak(recorded) {
                Some(weak) => Form::ETag { weak },
                None => Form::Exact(recorded.to_owned()),
            },
            "traceparent" if is_traceparent(recorded) => Form::TraceParent,
            // Vendors add and drop their entries freely.
            "tracestate" => Form::Any,
            "date" | "last-modified" | "expires" | "age" => Form::Exact(recorded.to_owned()),
            _ if is_uuid(recorded) => Form::Uuid,
            _ => Form::Shaped(recorded.to_owned()),
        }
    }

    fn accepts(&self, v: &str) -> bool {
        let v = v.trim();
        match self {
            Form::HttpDate => is_http_date(v),
            Form::Seconds => is_seconds(v),
            Form::ETag { weak } => etag_weak(v) == Some(*weak),
            Form::Uuid => is_uuid(v),
            Form::TraceParent => is_traceparent(v),
            Form::Shaped(recorded) => shape(v) == shape(recorded),
            Form::Any => true,
            Form::Exact(recorded) => v == recorded,
        }
    }

    fn describe(&self) -> String {
        match self {
            Form::HttpDate => "an HTTP date".into(),
            Form::Seconds => "a number of seconds".into(),
            Form::ETag { weak: true } => "a weak ETag (W/\"…\")".into(),
            Form::ETag { weak: false } => "a quoted ETag (\"…\")".into(),
            Form::Uuid => "a UUID".into(),
            Form::TraceParent => "a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)".into(),
            Form::Shaped(recorded) => format!("a value shaped like {recorded:?}"),
            Form::Any => "the header".into(),
            Form::Exact(recorded) => format!("{recorded:?}"),
        }
    }
}

/// IMF-fixdate, or the obsolete RFC 850 and asctime forms HTTP still accepts.
pub fn is_http_date(s: &str) -> bool {
    [
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    ]
    .iter()
    .any(|f| chrono::NaiveDateTime::parse_from_str(s, f).is_ok())
}

fn is_seconds(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Some(weak) for `"…"` or `W/"…"`.
fn etag_weak(s: &str) -> Option<bool> {
    let (weak, rest) = match s.strip_prefix("W/") {
        Some(r) => (true, r),
        None => (false, s),
    };
    let inner = rest.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('"')).then_some(weak)
}

fn is_traceparent(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 4
        && parts
            .iter()
            .zip([2, 32, 16, 2])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `req-42_a` → `x-x_x`: runs of letters and digits stand for any such run.
fn shape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if !out.ends_with('x') {
                out.push('x');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The cookie names set, sorted.
fn cookie_names(values: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = values
        .iter()
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .map(|(n, _)| n.trim().to_owned())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str, recorded: &str, actual: &str) -> bool {
        check(name, &[recorded], &[actual]).is_none()
    }

    #[test]
    fn dates_must_stay_http_dates() {
        let d = "Thu, 26 Nov 2026 14:53:46 GMT";
        assert!(ok("date", d, "Fri, 27 Nov 2026 09:00:01 GMT"));
        assert!(ok("last-modified", d, "Sunday, 06-Nov-94 08:49:37 GMT"));
        assert!(ok("expires", d, "Sun Nov  6 08:49:37 1994"));
        assert_eq!(
            check("date", &[d], &["2026-11-26T14:53:46Z"]).as_deref(),
            Some("an HTTP date")
        );
        assert_eq!(check("date", &[d], &[]).as_deref(), Some("an HTTP date"));
        // `Expires: 0` is not a date; it is held to what it was.
        assert!(ok("expires", "0", "0"));
        assert!(!ok("expires", "0", d));
    }

    #[test]
    fn ages_etags_and_ids_keep_their_form() {
        assert!(ok("age", "12", "0"));
        assert!(!ok("age", "12", "soon"));
        assert!(ok("etag", "\"abc\"", "\"x1-y2\""));
        assert!(ok("etag", "W/\"abc\"", "W/\"def\""));
        assert!(!ok("etag", "W/\"abc\"", "\"def\""));
        assert!(!ok("etag", "\"abc\"", "abc"));
        let id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        assert!(ok(
            "x-request-id",
            id,
            "00000000-0000-4000-8000-000000000000"
        ));
        assert_eq!(
            check("x-request-id", &[id], &["req-1"]).as_deref(),
            Some("a UUID")
        );
        assert!(ok("x-request-id", "req-41", "req-1009"));
        assert!(!ok("x-request-id", "req-41", "req_41"));
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(ok(
            "traceparent",
            tp,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
        ));
        assert!(!ok("traceparent", tp, "00-abc-def-01"));
        assert!(ok("tracestate", "a=1", "b=2,c=3"));
    }

    #[test]
    fn cookies_keep_their_names_whatever_their_values() {
        let rec = ["sid=abc; Path=/; HttpOnly", "theme=dark"];
        assert!(check("set-cookie", &rec, &["theme=light; Max-Age=5", "sid=zzz"]).is_none());
        assert_eq!(
            check("set-cookie", &rec, &["sid=zzz"]).as_deref(),
            Some("Set-Cookie for sid, theme (any values and attributes)")
        );
    }
}
