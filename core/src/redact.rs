//! `reel record --redact`: secrets are replaced before anything is stored.
//!
//! The same rules as for generated files apply (credential headers; query,
//! form and JSON fields named like password, secret, token, api_key), and the
//! same `${secret:NAME}` placeholders are written, so a suite generated from a
//! redacted session asks for `REEL_SECRET_<NAME>` at replay. One value gets one
//! name for the whole session (kept in memory only), so a token handed out in
//! one response and sent back in a later request still links the two. A
//! project's own names and patterns (reel.toml's `[redact]`) apply as well.
//!
//! Postgres values are positional (no names to go by): there the patterns
//! apply, to SQL text, parameters, rows, COPY data and error text, and so do
//! secrets already seen in HTTP requests (kept as hashes), to whole values.
//! Requests are shown to the redactor as soon as they arrive, so a password
//! is known before the app binds it into a query.

use std::sync::Mutex;

use crate::model::{header, Body, Header, HttpRequest, HttpResponse};
use crate::secrets::{SecretRules, Secrets};
use crate::suite::{BodySpec, RequestSpec, ResponseSpec};
use crate::wire::postgres::{BackendMessage, FrontendMessage};

/// Redacts exchanges of one recording session.
#[derive(Default)]
pub struct Redactor {
    names: Mutex<Secrets>,
    /// Whether the rules have value patterns: only those reach Postgres values.
    patterns: bool,
}

fn to_spec_headers(h: &[Header]) -> Vec<(String, String)> {
    h.iter()
        .map(|h| {
            (
                h.name.clone(),
                String::from_utf8_lossy(&h.value).into_owned(),
            )
        })
        .collect()
}

fn from_spec_headers(h: Vec<(String, String)>) -> Vec<Header> {
    h.into_iter().map(|(n, v)| Header::new(n, v)).collect()
}

fn spec_body(body: &Body, content_type: Option<&[u8]>) -> Option<BodySpec> {
    let ct = content_type.and_then(|v| std::str::from_utf8(v).ok());
    BodySpec::from_bytes(&body.bytes, ct, body.truncated)
}

/// Writes a redacted body back as bytes; untouched bodies keep their bytes.
fn put_body(body: &mut Body, before: Option<BodySpec>, after: Option<BodySpec>) {
    if before != after {
        if let Some(b) = after {
            let bytes = b.to_bytes();
            body.size = bytes.len() as u64;
            body.bytes = bytes;
        }
    }
}

impl Redactor {
    /// Redacts the built-in secrets and those `rules` describe.
    pub fn new(rules: SecretRules) -> Self {
        Redactor {
            patterns: rules.has_patterns(),
            names: Mutex::new(Secrets::with_rules(rules)),
        }
    }

    /// The lock on the names is held only while they are looked up and
    /// added: bodies are parsed before and written back after, so a large body
    /// keeps other requests' redaction waiting as little as it can.
    pub fn request(&self, r: &mut HttpRequest) {
        let before = spec_body(&r.body, header(&r.headers, "content-type"));
        let mut spec = RequestSpec {
            method: r.method.clone(),
            target: r.target.clone(),
            headers: to_spec_headers(&r.headers),
            body: before.clone(),
        };
        {
            let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
            names.scrub_request(&mut spec);
            names.forget_values();
        }
        r.target = spec.target;
        r.headers = from_spec_headers(spec.headers);
        put_body(&mut r.body, before, spec.body);
    }

    /// As [`Redactor::request`].
    pub fn response(&self, r: &mut HttpResponse) {
        let before = spec_body(&r.body, header(&r.headers, "content-type"));
        let mut spec = ResponseSpec {
            status: r.status,
            headers: to_spec_headers(&r.headers),
            body_encoding: None,
            body: before.clone(),
        };
        {
            let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
            names.scrub_response(&mut spec, false);
            names.forget_values();
        }
        r.headers = from_spec_headers(spec.headers);
        put_body(&mut r.body, before, spec.body);
    }

    /// Redacts one Postgres request group and its answer; whether the
    /// requests and the responses changed (their raw bytes must then be
    /// encoded again).
    pub fn postgres(
        &self,
        requests: &mut [FrontendMessage],
        responses: &mut [BackendMessage],
    ) -> (bool, bool) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        // Patterns, or secrets already seen in HTTP (a password bound as a
        // parameter): without either there is nothing to look for.
        if !self.patterns && names.is_empty() {
            return (false, false);
        }
        let changed = names.scrub_pg_messages(requests, responses);
        names.forget_values();
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_keeps_one_name_from_response_to_request_and_no_value_is_kept() {
        let red = Redactor::default();
        let mut login = HttpResponse {
            status: 200,
            version: "HTTP/1.1".into(),
            headers: vec![Header::new("Content-Type", "application/json")],
            body: Body::complete(br#"{"token":"abc123secret","user":"ann"}"#.to_vec()),
        };
        red.response(&mut login);
        assert_eq!(
            login.body.bytes,
            br#"{"token":"${secret:TOKEN}","user":"ann"}"#
        );
        let mut me = HttpRequest {
            method: "GET".into(),
            target: "/me?api_key=k9k9k9".into(),
            version: "HTTP/1.1".into(),
            headers: vec![Header::new("Authorization", "Bearer abc123secret")],
            body: Body::default(),
        };
        // Another exchange in between must not make the token unrecognisable.
        let mut other = HttpResponse {
            status: 204,
            version: "HTTP/1.1".into(),
            headers: vec![],
            body: Body::default(),
        };
        red.response(&mut other);
        red.request(&mut me);
        assert_eq!(me.headers[0].value, b"Bearer ${secret:TOKEN}");
        assert_eq!(me.target, "/me?api_key=${secret:API_KEY}");
        let kept = red.names.lock().unwrap();
        for v in kept.values().values() {
            assert!(
                !v.contains("abc123secret") && !v.contains("k9k9k9"),
                "no value stays in memory"
            );
        }
    }

    #[test]
    fn a_secret_echoed_under_another_name_is_redacted_too() {
        let red = Redactor::default();
        let mut call = HttpRequest {
            method: "GET".into(),
            target: "/get?api_key=k9k9-Long-Key99&page=2".into(),
            version: "HTTP/1.1".into(),
            headers: vec![Header::new("Authorization", "Bearer Tok3n-abcdefgh")],
            body: Body::default(),
        };
        red.request(&mut call);
        let mut echo = HttpResponse {
            status: 200,
            version: "HTTP/1.1".into(),
            headers: vec![
                Header::new("Content-Type", "application/json"),
                Header::new("X-Seen", "Tok3n-abcdefgh"),
            ],
            body: Body::complete(
                br#"{"args":{"key":"k9k9-Long-Key99"},"url":"http://h/get?api_key=k9k9-Long-Key99&page=2","headers":{"Authorization":"Bearer Tok3n-abcdefgh"}}"#
                    .to_vec(),
            ),
        };
        red.response(&mut echo);
        let text = String::from_utf8_lossy(&echo.body.bytes);
        assert!(!text.contains("k9k9-Long-Key99"), "{text}");
        assert!(!text.contains("Tok3n-abcdefgh"), "{text}");
        assert_eq!(echo.headers[1].value, b"${secret:AUTHORIZATION}");
        assert!(
            text.contains(r#""url":"http://h/get?api_key=${secret:API_KEY}&page=2""#),
            "{text}"
        );
    }

    #[test]
    fn postgres_values_matching_a_pattern_are_redacted_and_named_once() {
        let rules = SecretRules::new(["pin"], ["sk_live_[A-Za-z0-9]+"]).unwrap();
        let red = Redactor::new(rules);
        let mut requests = vec![
            FrontendMessage::Query {
                sql: "select * from keys where k = 'sk_live_Q1'".into(),
            },
            FrontendMessage::Bind {
                portal: String::new(),
                statement: "s1".into(),
                param_formats: vec![],
                // Names do not reach positional values: "1234" stays.
                params: vec![
                    Some(b"sk_live_B1".to_vec().into()),
                    Some(b"1234".to_vec().into()),
                ],
                result_formats: vec![],
            },
        ];
        let mut responses = vec![BackendMessage::DataRow {
            values: vec![Some(b"sk_live_B1".to_vec().into()), None],
        }];
        assert_eq!(red.postgres(&mut requests, &mut responses), (true, true));
        assert_eq!(
            requests[0],
            FrontendMessage::Query {
                sql: "select * from keys where k = '${secret:SQL}'".into()
            }
        );
        let FrontendMessage::Bind { params, .. } = &requests[1] else {
            unreachable!()
        };
        assert_eq!(
            params,
            &[
                Some(b"${secret:PARAM}".to_vec().into()),
                Some(b"1234".to_vec().into())
            ]
        );
        // The same value seen again (its hash) keeps its name.
        assert_eq!(
            responses[0],
            BackendMessage::DataRow {
                values: vec![Some(b"${secret:PARAM}".to_vec().into()), None]
            }
        );
        let mut plain = vec![FrontendMessage::Query {
            sql: "select 1".into(),
        }];
        assert_eq!(red.postgres(&mut plain, &mut []), (false, false));
        let kept = red.names.lock().unwrap();
        assert!(kept.values().values().all(|v| !v.contains("sk_live")));
    }
}
