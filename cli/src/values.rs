//! Typed values of flags that take a small language, parsed once by clap
//! (and built the same way from reel.toml): `--max-body` sizes and `--report`
//! lists. Commands use these values and never re-parse strings.

use std::fmt;
use std::path::{Path, PathBuf};

/// A number of bytes: `8M`, `512K`, `1G` or a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl ByteSize {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad =
            || format!("'{s}' is not a size: expected bytes like \"8M\", \"512K\" or 1048576");
        let t = s.trim();
        let (digits, mult) = match t.char_indices().last().ok_or_else(bad)? {
            (i, 'k' | 'K') => (&t[..i], 1 << 10),
            (i, 'm' | 'M') => (&t[..i], 1 << 20),
            (i, 'g' | 'G') => (&t[..i], 1 << 30),
            _ => (t, 1),
        };
        digits
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
            .map(ByteSize)
            .ok_or_else(bad)
    }
}

/// The largest suffix that states the size exactly: `8M`, `1536K`, `100`.
impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (suffix, unit) in [("G", 1usize << 30), ("M", 1 << 20), ("K", 1 << 10)] {
            if n != 0 && n.is_multiple_of(unit) {
                return write!(f, "{}{suffix}", n / unit);
            }
        }
        write!(f, "{n}")
    }
}

/// A report `reel test` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Junit,
    Html,
    Json,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Junit => "junit",
            ReportKind::Html => "html",
            ReportKind::Json => "json",
        }
    }
}

/// `--report junit=FILE,html=FILE,json=FILE` (any subset, in order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reports(pub Vec<(ReportKind, PathBuf)>);

impl Reports {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let kind = match part.split_once('=') {
                Some((kind, file)) if !file.trim().is_empty() => match kind.trim() {
                    "junit" => Some((ReportKind::Junit, file)),
                    "html" => Some((ReportKind::Html, file)),
                    "json" => Some((ReportKind::Json, file)),
                    _ => None,
                },
                _ => None,
            };
            let Some((kind, file)) = kind else {
                return Err(format!(
                    "'{part}': expected KIND=FILE with KIND junit, html or json"
                ));
            };
            out.push((kind, PathBuf::from(file.trim())));
        }
        Ok(Reports(out))
    }

    /// The folder of the first report file, where the app's log goes too.
    pub fn first_dir(&self) -> Option<&Path> {
        self.0
            .first()
            .map(|(_, p)| p.parent().unwrap_or(Path::new("")))
    }
}

/// As `--report` takes them, for `reel config`.
impl fmt::Display for Reports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (kind, path)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{}={}", kind.as_str(), path.display())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_suffixes_and_print_back() {
        for (text, bytes, shown) in [
            ("8M", 8 << 20, "8M"),
            ("512k", 512 << 10, "512K"),
            ("100", 100, "100"),
            ("1536K", 1536 << 10, "1536K"),
            (" 2G ", 2 << 30, "2G"),
        ] {
            let s = ByteSize::parse(text).unwrap();
            assert_eq!(s, ByteSize(bytes), "{text}");
            assert_eq!(s.to_string(), shown);
        }
        for bad in ["x", "", "M", "-1K", "99999999999999999999G"] {
            let err = ByteSize::parse(bad).unwrap_err();
            assert!(err.contains("is not a size"), "{bad}: {err}");
        }
        assert_eq!(
            reel_proxy::server::DEFAULT_BODY_CAP,
            ByteSize::parse("8M").unwrap().0,
            "--max-body's default is the recorder's"
        );
    }

    #[test]
    fn reports_keep_kind_file_and_order() {
        let r = Reports::parse("json=out/r.json, junit=j.xml,").unwrap();
        assert_eq!(
            r.0,
            [
                (ReportKind::Json, PathBuf::from("out/r.json")),
                (ReportKind::Junit, PathBuf::from("j.xml")),
            ]
        );
        assert_eq!(r.first_dir(), Some(Path::new("out")));
        assert_eq!(r.to_string(), "json=out/r.json,junit=j.xml");
        for bad in ["har=x", "junit", "junit=", "junit=a,pdf=b"] {
            let err = Reports::parse(bad).unwrap_err();
            assert!(err.contains("expected KIND=FILE"), "{bad}: {err}");
        }
    }
}
