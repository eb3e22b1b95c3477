//! HTTP parts of a suite checked at load: what reel sends (a case's request,
//! a mock's answer) must be valid HTTP, and what it compares or matches (an
//! expected response, a mock's request) must be something HTTP can carry, or
//! it could never match.
//!
//! A hand-edited value that breaks this is refused where the file and line
//! are known, as Postgres lines are ([`super::postgres`]); otherwise the mock
//! would answer the app with a 500 and the case would fail for a reason no
//! report names.

use super::{RequestSpec, ResponseSpec};

impl RequestSpec {
    /// Why this request cannot go on the wire, naming the field.
    pub fn check(&self) -> Result<(), String> {
        if self.method.is_empty() {
            return Err("request method is empty".into());
        }
        if let Some(c) = self.method.chars().find(|c| !is_tchar(*c)) {
            return Err(format!(
                "request method {:?}: contains {}, which a method cannot hold",
                self.method,
                shown(c)
            ));
        }
        if self.target.is_empty() {
            return Err("request target is empty".into());
        }
        if let Some(c) = self.target.chars().find(|c| c.is_ascii_control()) {
            return Err(format!(
                "request target {:?}: contains {}, which a request line cannot hold",
                self.target,
                shown(c)
            ));
        }
        check_headers("request", &self.headers)
    }
}

impl ResponseSpec {
    /// Why this response cannot go on the wire, naming the field.
    pub fn check(&self) -> Result<(), String> {
        if !(100..=999).contains(&self.status) {
            return Err(format!(
                "response status {}: not an HTTP status (three digits, 100 to 999)",
                self.status
            ));
        }
        check_headers("response", &self.headers)
    }
}

/// Each name a token, each value free of control bytes but tab (a CR or LF
/// would end the header line): RFC 9110 section 5.
fn check_headers(side: &str, headers: &[(String, String)]) -> Result<(), String> {
    for (i, (name, value)) in headers.iter().enumerate() {
        let at = format!("{side} header {} ({name:?})", i + 1);
        if name.is_empty() {
            return Err(format!("{at}: the name is empty"));
        }
        if let Some(c) = name.chars().find(|c| !is_tchar(*c)) {
            return Err(format!(
                "{at}: the name contains {}, which a header name cannot hold",
                shown(c)
            ));
        }
        if let Some(c) = value.chars().find(|c| c.is_ascii_control() && *c != '\t') {
            return Err(format!(
                "{at}: the value contains {}, which a header value cannot hold",
                shown(c)
            ));
        }
    }
    Ok(())
}

/// A token character (RFC 9110 section 5.6.2).
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A character as the error shows it: `a space`, `a CR (\r)`, `'('`.
fn shown(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\r' => "a CR (\\r)".into(),
        '\n' => "a LF (\\n)".into(),
        '\0' => "a NUL byte".into(),
        c if c.is_ascii_control() => format!("the control byte 0x{:02x}", c as u32),
        c => format!("{c:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> ResponseSpec {
        ResponseSpec {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body_encoding: None,
            body: None,
        }
    }

    fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> RequestSpec {
        RequestSpec {
            method: method.into(),
            target: target.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: None,
        }
    }

    #[test]
    fn what_http_can_carry_passes() {
        let ok = response(
            599,
            &[
                ("content-type", "application/json; charset=utf-8"),
                (
                    "x-odd!#$%&'*+-.^_`|~",
                    "tab\there, ünïcode, ${secret:TOKEN}",
                ),
                ("x-empty", ""),
            ],
        );
        assert_eq!(ok.check(), Ok(()));
        assert_eq!(response(100, &[]).check(), Ok(()));
        assert_eq!(
            request("PATCH", "/a b?c=d%20e", &[("accept", "*/*")]).check(),
            Ok(())
        );
    }

    #[test]
    fn each_field_that_cannot_go_on_the_wire_is_named() {
        let cases = [
            (
                response(1000, &[]).check(),
                "response status 1000: not an HTTP status (three digits, 100 to 999)",
            ),
            (
                response(99, &[]).check(),
                "response status 99: not an HTTP status (three digits, 100 to 999)",
            ),
            (
                response(200, &[("ok", "1"), ("x-a", "one\r\nset-cookie: evil=1")]).check(),
                r#"response header 2 ("x-a"): the value contains a CR (\r), which a header value cannot hold"#,
            ),
            (
                response(200, &[("x-a", "one\ntwo")]).check(),
                r#"response header 1 ("x-a"): the value contains a LF (\n), which a header value cannot hold"#,
            ),
            (
                response(200, &[("x bad", "1")]).check(),
                r#"response header 1 ("x bad"): the name contains a space, which a header name cannot hold"#,
            ),
            (
                response(200, &[("x:a", "1")]).check(),
                r#"response header 1 ("x:a"): the name contains ':', which a header name cannot hold"#,
            ),
            (
                response(200, &[("", "1")]).check(),
                r#"response header 1 (""): the name is empty"#,
            ),
            (
                request("GET", "/", &[("x-a", "\u{1b}[2J")]).check(),
                r#"request header 1 ("x-a"): the value contains the control byte 0x1b, which a header value cannot hold"#,
            ),
            (
                request("GE T", "/", &[]).check(),
                r#"request method "GE T": contains a space, which a method cannot hold"#,
            ),
            (request("", "/", &[]).check(), "request method is empty"),
            (
                request("GET", "/a\r\nHost: evil", &[]).check(),
                r#"request target "/a\r\nHost: evil": contains a CR (\r), which a request line cannot hold"#,
            ),
            (request("GET", "", &[]).check(), "request target is empty"),
        ];
        for (got, want) in cases {
            assert_eq!(got, Err(want.to_owned()));
        }
    }
}
