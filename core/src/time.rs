//! Timestamps: microseconds since the Unix epoch, shown as RFC 3339.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub i64);

impl Micros {
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Micros(d.as_micros() as i64)
    }

    /// RFC 3339 with microseconds, e.g. `2026-11-26T12:29:42.123456Z`.
    pub fn rfc3339(self) -> String {
        match chrono::DateTime::from_timestamp_micros(self.0) {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            None => self.0.to_string(),
        }
    }
}

impl serde::Serialize for Micros {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc3339_with_micros() {
        assert_eq!(
            Micros(1_764_160_182_123_456).rfc3339(),
            "2025-11-26T12:29:42.123456Z"
        );
    }
}
