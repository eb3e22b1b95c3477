//! Formats of values an app makes up afresh on every run and sends to its
//! dependencies: password hashes, JWTs, salts, nonces and HMACs (hex or
//! base64), besides the UUIDs and timestamps [`super`] knows. Each is a
//! matcher kind (`{"$reel": "password_hash"}`) that a recorded dependency
//! request (a Postgres Bind parameter, an HTTP mock's request body) can hold
//! instead of its value, and that the generator infers from the value's
//! format alone, so a salted hash made at replay matches the one recorded.
//!
//! Dependency values are bytes: a Postgres parameter in binary format is a
//! UUID's 16 bytes or a timestamp's 8, not text. [`param_kind`] and
//! [`accepts_param`] take the format (and, where known, the parameter's type)
//! into account.

use std::sync::LazyLock;

use regex::Regex;

/// Postgres type OIDs whose binary values have a kind of their own.
pub mod oid {
    pub const BYTEA: u32 = 17;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const UUID: u32 = 2950;
}

/// The matcher kinds this module adds, with what each accepts, for help
/// texts and the README.
pub const KINDS: &[(&str, &str)] = &[
    (
        "password_hash",
        "a bcrypt, argon2, scrypt, PBKDF2 or sha-crypt hash string",
    ),
    ("jwt", "a JSON Web Token (three base64url parts)"),
    (
        "hex",
        "a string of hex digits (salts, nonces, HMACs, digests)",
    ),
    (
        "base64",
        "a base64 or base64url string (salts, nonces, HMACs)",
    ),
    (
        "bytes",
        "any binary value (a random salt or nonce sent as bytea)",
    ),
];

static PASSWORD_HASH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:",
        // bcrypt: $2a$, $2b$, $2x$, $2y$ (and Django's bcrypt_sha256$ prefix).
        r"(?:bcrypt(?:_sha256)?\$)?\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}",
        // argon2 in PHC form (and Django's argon2$ prefix).
        r"|(?:argon2)?\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/.=-]+\$[A-Za-z0-9+/.=-]+",
        // scrypt: passlib's $scrypt$, libsodium's $7$, yescrypt's $y$.
        r"|\$scrypt\$[^$\s]+\$[A-Za-z0-9+/.=-]+\$[A-Za-z0-9+/.=-]+",
        r"|\$(?:7|y|gy)\$[./A-Za-z0-9$]{20,}",
        // PBKDF2: passlib's $pbkdf2-sha256$, Django's pbkdf2_sha256$.
        r"|\$pbkdf2(?:-sha\d+)?\$\d+\$[A-Za-z0-9+/.=-]+\$[A-Za-z0-9+/.=-]+",
        r"|pbkdf2_sha\d+\$\d+\$[A-Za-z0-9+/.=-]+\$[A-Za-z0-9+/.=-]+",
        // Werkzeug: pbkdf2:sha256:600000$salt$hash, scrypt:32768:8:1$salt$hash.
        r"|(?:pbkdf2:sha\d+|scrypt)(?::\d+)*\$[A-Za-z0-9+/.=-]+\$[0-9a-f]+",
        // sha-crypt: $5$ and $6$, with or without rounds.
        r"|\$[56]\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43,86}",
        r")$"
    ))
    .expect("a valid pattern")
});

/// A password hash in one of the common self-describing string formats.
pub fn is_password_hash(s: &str) -> bool {
    s.len() <= 512 && PASSWORD_HASH.is_match(s)
}

/// A JSON Web Token: three base64url parts, the first a JSON header naming
/// its algorithm.
pub fn is_jwt(s: &str) -> bool {
    use base64::Engine as _;
    let parts: Vec<&str> = s.split('.').collect();
    let b64url = |p: &str| {
        p.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    };
    if parts.len() != 3
        || parts[..2].iter().any(|p| p.is_empty())
        || !parts.iter().all(|p| b64url(p))
    {
        return false;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[0].trim_end_matches('='))
        .ok()
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .is_some_and(|h| h.get("alg").is_some())
}

/// A random-looking hex string: 16 or more hex digits, an even count, digits
/// and letters both, and many distinct ones (a salt, a nonce, an HMAC).
pub fn is_random_hex(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 16
        && b.len().is_multiple_of(2)
        && b.iter().all(u8::is_ascii_hexdigit)
        && b.iter().any(u8::is_ascii_digit)
        && b.iter().any(u8::is_ascii_alphabetic)
        && distinct(b) >= 8
}

/// A random-looking base64 or base64url string: 16 or more characters of
/// that alphabet with upper case, lower case and digits all present.
pub fn is_random_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    let b = body.as_bytes();
    b.len() >= 16
        && s.len() - body.len() <= 2
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"+/-_".contains(c))
        && b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_lowercase)
        && b.iter().any(u8::is_ascii_digit)
        && distinct(b) >= 10
}

fn distinct(b: &[u8]) -> usize {
    b.iter().collect::<std::collections::BTreeSet<_>>().len()
}

/// A Postgres text timestamp (`2026-12-02 17:20:20.366041+00`) or an RFC 3339 one.
pub fn is_any_timestamp(s: &str) -> bool {
    timestamp_secs(s).is_some()
}

/// The Unix time of an RFC 3339 or Postgres text timestamp (one without a
/// zone taken as UTC).
pub fn timestamp_secs(s: &str) -> Option<i64> {
    if s.len() < 16 || s.len() > 40 {
        return None;
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    let s = s.replacen(' ', "T", 1);
    // Postgres writes a whole-hour zone as `+00`; RFC 3339 wants `+00:00`.
    let with_minutes = match s.rfind(['+', '-']) {
        Some(i) if i > 10 && s.len() - i == 3 => format!("{s}:00"),
        _ => s.clone(),
    };
    chrono::DateTime::parse_from_rfc3339(&with_minutes)
        .map(|t| t.timestamp())
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc().timestamp())
        })
}

/// Within a week of `near`: "now" when the value was made, not a date that is data.
fn near_in_time(unix: i64, near: i64) -> bool {
    (unix - near).abs() <= 7 * 24 * 3600
}

/// The kind of a text value the app makes afresh on every run, most
/// specific first; `None` for anything else (names, numbers, words).
pub fn text_kind(s: &str) -> Option<&'static str> {
    if super::is_uuid(s) {
        Some("uuid")
    } else if is_any_timestamp(s) {
        Some("timestamp")
    } else if is_jwt(s) {
        Some("jwt")
    } else if is_password_hash(s) {
        Some("password_hash")
    } else if is_random_hex(s) {
        Some("hex")
    } else if super::is_token(s) {
        Some("token")
    } else if is_random_base64(s) {
        Some("base64")
    } else {
        None
    }
}

/// Microseconds between the Unix epoch and Postgres's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The kind of one Postgres parameter: a text value by its format; a binary
/// one by its type (`type_oid`, 0 when unknown): a UUID, a timestamp within a
/// week of `near` (Unix seconds), or 16+ random-looking bytes of a bytea.
pub fn param_kind(value: &[u8], binary: bool, type_oid: u32, near: i64) -> Option<&'static str> {
    if binary {
        return match type_oid {
            oid::UUID if value.len() == 16 => Some("uuid"),
            oid::TIMESTAMP | oid::TIMESTAMPTZ if value.len() == 8 => {
                let micros = i64::from_be_bytes(value.try_into().ok()?);
                let unix = (micros + PG_EPOCH_MICROS) / 1_000_000;
                near_in_time(unix, near).then_some("timestamp")
            }
            oid::BYTEA if value.len() >= 16 && distinct(value) >= value.len() / 2 => Some("bytes"),
            // Text in binary format is its UTF-8 bytes.
            25 | 1043 | 1042 | 0 => text_param_kind(value, near),
            _ => None,
        };
    }
    text_param_kind(value, near)
}

/// [`text_kind`], where a timestamp must be near `near` to count.
fn text_param_kind(value: &[u8], near: i64) -> Option<&'static str> {
    let text = std::str::from_utf8(value).ok()?;
    match text_kind(text)? {
        "timestamp" => timestamp_secs(text)
            .is_some_and(|t| near_in_time(t, near))
            .then_some("timestamp"),
        kind => Some(kind),
    }
}

/// Whether a Postgres parameter (`None` is NULL) satisfies matcher `kind`.
/// A binary UUID is its 16 bytes and a binary timestamp its 8.
pub fn accepts_param(kind: &str, value: Option<&[u8]>, binary: bool) -> bool {
    let Some(value) = value else {
        return kind == "any";
    };
    if binary {
        match (kind, value.len()) {
            ("uuid", 16) | ("timestamp", 8) | ("bytes", _) | ("any", _) => return true,
            ("uuid" | "timestamp", _) => return false,
            _ => {}
        }
    }
    match std::str::from_utf8(value) {
        Ok(text) => accepts_text(kind, text),
        Err(_) => kind == "any" || kind == "bytes",
    }
}

/// Whether a JSON value in a dependency request satisfies matcher `kind`:
/// strings by [`accepts_text`], other values by [`super::accepts`].
pub fn accepts_json(kind: &str, v: &serde_json::Value) -> bool {
    match (kind, v) {
        ("number" | "boolean" | "epoch_seconds" | "epoch_millis", _) => super::accepts(kind, v),
        (_, serde_json::Value::String(s)) => accepts_text(kind, s),
        _ => super::accepts(kind, v),
    }
}

/// Whether a text value satisfies matcher `kind`: the kinds of
/// [`super::accepts`] for strings, and those of this module.
pub fn accepts_text(kind: &str, s: &str) -> bool {
    match kind {
        "any" | "string" | "bytes" => true,
        "uuid" => super::is_uuid(s),
        "timestamp" => is_any_timestamp(s),
        // Inferred from a value with many distinct letters and digits; any
        // run of the token alphabet is accepted, as a new random token may
        // happen to have few digits.
        "token" => {
            s.len() >= 8
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.+/=".contains(&c))
        }
        "password_hash" => is_password_hash(s),
        "jwt" => is_jwt(s),
        "hex" => !s.is_empty() && s.bytes().all(|c| c.is_ascii_hexdigit()),
        "base64" => {
            let body = s.trim_end_matches('=');
            !body.is_empty()
                && body
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"+/-_".contains(&c))
        }
        "number" => s.parse::<f64>().is_ok(),
        "boolean" => matches!(s, "t" | "f" | "true" | "false"),
        "epoch_seconds" | "epoch_millis" => s.parse::<i64>().is_ok_and(|n| n > 0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_of_the_common_libraries_are_recognised() {
        for h in [
            "$2b$04$l74TG0M.K3A7gtwpeEU4peAEwXSBUuMJV3a61y41vNU1DHOi1RG5u",
            "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a",
            "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
            "$pbkdf2-sha256$29000$N2YuJWRYbRrA$SxfFiXuuhgwsI0yPSBkBnhwSbvcbPIo9IG4/d7XDCrI",
            "pbkdf2_sha256$870000$Xw4Jw5wtQYQWJBqOfMXL6X$2wvUqMlZ0vyu/RDqW0dVBJn2Jr2m1D/jd/kZP8yK3N0=",
            "pbkdf2:sha256:600000$KrXv1SBc$3c4e5b2b0a1f7e8d9c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d",
            "scrypt:32768:8:1$Xq3vYp2L$0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "$6$rounds=5000$saltsalt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.",
        ] {
            assert!(is_password_hash(h), "{h}");
            assert_eq!(text_kind(h), Some("password_hash"), "{h}");
        }
        for not in ["password", "$2b$04$short", "pbkdf2_sha256", "alice", "$5$x"] {
            assert!(!is_password_hash(not), "{not}");
        }
    }

    #[test]
    fn jwts_salts_and_nonces_by_format_and_ordinary_values_not() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.0KV7NymFlECgh7f2UKUx-alT7whIxwSBCPRxAG35Zkc";
        assert_eq!(text_kind(jwt), Some("jwt"));
        assert_eq!(text_kind("9ec928750d2703ed9d986669c327b879"), Some("hex"));
        assert_eq!(text_kind("Xq3vYp2LmZ8kR1tW"), Some("base64"));
        assert_eq!(
            text_kind("6f1c2a1e-8a59-4b4e-9a53-0d0c1c8b8a11"),
            Some("uuid")
        );
        assert_eq!(
            text_kind("2026-12-02 17:20:20.366041+00"),
            Some("timestamp")
        );
        for ordinary in [
            "alice",
            "9781718502826",
            "Postgres Internals",
            "deadbeefdeadbeef",
            "ORDER-2026-000042",
            "a.b.c",
            "correct horse battery staple",
        ] {
            assert_eq!(text_kind(ordinary), None, "{ordinary}");
        }
    }

    #[test]
    fn binary_parameters_go_by_their_type() {
        let now = 1_796_231_400; // 2026-12-02
        let uuid = [7u8; 16];
        assert_eq!(param_kind(&uuid, true, oid::UUID, now), Some("uuid"));
        assert_eq!(param_kind(&uuid, true, 23, now), None);
        let micros = (now * 1_000_000 - PG_EPOCH_MICROS).to_be_bytes();
        assert_eq!(
            param_kind(&micros, true, oid::TIMESTAMPTZ, now),
            Some("timestamp")
        );
        assert_eq!(
            param_kind(&micros, true, oid::TIMESTAMPTZ, now + 30 * 24 * 3600),
            None,
            "a time far from the recording is data, not 'now'"
        );
        let salt: Vec<u8> = (0..16u8).map(|i| i.wrapping_mul(37)).collect();
        assert_eq!(param_kind(&salt, true, oid::BYTEA, now), Some("bytes"));
        assert_eq!(
            param_kind(b"2026-12-02 17:20:20.366041+00", false, 0, now),
            Some("timestamp")
        );
        assert_eq!(
            param_kind(b"1999-01-01 00:00:00", false, 0, now),
            None,
            "a date that is data"
        );
        assert!(accepts_param("uuid", Some(&[1; 16]), true));
        assert!(!accepts_param("uuid", Some(&[1; 8]), true));
        assert!(!accepts_param("uuid", None, false));
        assert!(accepts_param(
            "password_hash",
            Some(b"$2b$04$qgT03yhuZzRoClIJQCCC8Oe48nOacch4kDUkjKNL7tX0KkAOJOX.i"),
            true
        ));
        assert!(!accepts_param("password_hash", Some(b"hunter2"), false));
        // A new random token may have fewer digits than the one recorded.
        assert!(accepts_param(
            "token",
            Some(b"68GDFVII_AqNvjTSrPCglBkVdiORAGbw"),
            false
        ));
    }
}
