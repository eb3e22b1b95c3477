//! Record-time filters: which inbound requests a recording stores.
//!
//! A long recording of real traffic is mostly health checks, static files
//! and the same reads again and again. `--include` / `--exclude` name the
//! requests to keep or leave out by method and path, and `--sample RATE`
//! keeps only a share of the reads (GET, HEAD, OPTIONS) while every write is
//! kept, so that the state a replay builds up is the recorded one.
//!
//! A [`RoutePattern`] is `[METHODS] PATH`:
//!
//! - `METHODS` is a method (`GET`), several joined by commas (`GET,HEAD`) or
//!   `*` for any; left out, any method. Given alone (`OPTIONS`), any path.
//! - `PATH` starts with `/` and is matched segment by segment against the
//!   request's path as received (percent-escapes are not decoded), without
//!   its query string: `*` stands for any characters within one segment
//!   (`/books/*`, `/static/*.css`), `**` as a whole segment for any number
//!   of segments, none included (`/static/**` holds `/static` and
//!   `/static/css/a.css`). Anything else matches itself, so `/health`
//!   holds `/health` and `/health?full=1` but not `/health/` or
//!   `/healthz`.
//!
//! Patterns are parsed once, when the flags and reel.toml are read; a request
//! is then decided with a few byte comparisons and no allocation
//! ([`RecordFilter::decide`]), since this runs for every proxied request.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

/// A `[METHODS] PATH` pattern (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    text: String,
    /// Upper-case method names; `None`: any method.
    methods: Option<Vec<String>>,
    /// `None`: any path.
    path: Option<Vec<Segment>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of segments.
    Rest,
    /// Literal pieces with a `*` (any run of bytes but `/`) between each two.
    Glob(Vec<Vec<u8>>),
}

impl RoutePattern {
    /// Parses `[METHODS] PATH`; the error says what is wrong with `text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("'{text}': {why}");
        let words: Vec<&str> = text.split_whitespace().collect();
        let (method, path) = match words.as_slice() {
            [] => {
                return Err(
                    "an empty pattern: give METHOD, PATH or METHOD PATH, e.g. 'GET /api/*'".into(),
                )
            }
            [one] if one.starts_with('/') => (None, Some(*one)),
            [one] => (Some(*one), None),
            [m, _] if m.starts_with('/') => {
                return Err(bad(
                    "a path has no spaces (a space in a request target arrives as %20)",
                ))
            }
            [m, p] => (Some(*m), Some(*p)),
            _ => {
                return Err(bad(
                    "expected METHOD PATH, e.g. 'GET /api/*' (a path has no spaces)",
                ))
            }
        };
        let methods = match method {
            None | Some("*") => None,
            Some(m) => {
                let mut names = Vec::new();
                for name in m.split(',') {
                    if name.is_empty() || !name.bytes().all(is_token_byte) {
                        return Err(bad(&format!(
                            "'{name}' is not an HTTP method (expected e.g. GET, GET,HEAD or *)"
                        )));
                    }
                    names.push(name.to_ascii_uppercase());
                }
                Some(names)
            }
        };
        let path = match path {
            None => None,
            Some(p) if !p.starts_with('/') => {
                return Err(bad(&format!("the path '{p}' should start with '/'")))
            }
            Some(p) if p.contains(['?', '#']) => {
                return Err(bad(
                    "a path pattern holds no query or fragment: the query string is not matched",
                ))
            }
            Some(p) => {
                let mut segments = Vec::new();
                for seg in p[1..].split('/') {
                    if seg == "**" {
                        // Two in a row match what one does.
                        if segments.last() != Some(&Segment::Rest) {
                            segments.push(Segment::Rest);
                        }
                    } else if seg.contains("**") {
                        return Err(bad(&format!(
                            "'**' stands for whole segments ('/a/**'), not part of one ('{seg}'); use '*' within a segment"
                        )));
                    } else {
                        segments.push(Segment::Glob(
                            seg.split('*').map(|s| s.as_bytes().to_vec()).collect(),
                        ));
                    }
                }
                Some(segments)
            }
        };
        Ok(RoutePattern {
            text: words.join(" "),
            methods,
            path,
        })
    }

    /// Whether a request with `method` and `path` (no query) matches.
    pub fn matches(&self, method: &[u8], path: &[u8]) -> bool {
        if let Some(methods) = &self.methods {
            if !methods.iter().any(|m| m.as_bytes() == method) {
                return false;
            }
        }
        match &self.path {
            None => true,
            Some(segments) => match path.strip_prefix(b"/") {
                Some(rest) => match_segments(segments, Some(rest)),
                None => false,
            },
        }
    }

    /// The pattern as written (words separated by one space).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `tchar` of RFC 9110: what a method name is made of.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Matches `segments` against `path`: the segments still to match, joined by
/// `/` (`None`: none left; `Some(b"")`: one empty segment, as after a
/// trailing slash).
fn match_segments(segments: &[Segment], path: Option<&[u8]>) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return path.is_none();
    };
    match first {
        Segment::Rest => {
            // None, or one more segment at a time.
            let mut at = path;
            loop {
                if match_segments(rest, at) {
                    return true;
                }
                let Some(p) = at else { return false };
                at = p.iter().position(|&b| b == b'/').map(|i| &p[i + 1..]);
            }
        }
        Segment::Glob(pieces) => {
            let Some(p) = path else { return false };
            let (seg, after) = match p.iter().position(|&b| b == b'/') {
                Some(i) => (&p[..i], Some(&p[i + 1..])),
                None => (p, None),
            };
            glob(pieces, seg) && match_segments(rest, after)
        }
    }
}

/// Whether `s` is `pieces` joined by runs of any bytes.
fn glob(pieces: &[Vec<u8>], s: &[u8]) -> bool {
    let [first, middle @ .., last] = pieces else {
        // One piece: no `*`.
        return pieces.first().is_some_and(|p| p.as_slice() == s);
    };
    let Some(mut rest) = s.strip_prefix(first.as_slice()) else {
        return false;
    };
    // Each middle piece at its first place: any later place leaves less room.
    for piece in middle {
        match find(rest, piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `--sample RATE`: the share of reads kept, more than 0 and at most 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRate(f64);

impl SampleRate {
    /// `0.1`, or `10%`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (number, scale) = match t.strip_suffix('%') {
            Some(n) => (n, 100.0),
            None => (t, 1.0),
        };
        match number.trim().parse::<f64>() {
            Ok(r) => Self::new(r / scale).ok_or_else(|| {
                format!("'{text}' is not a rate: give the share of reads to keep, more than 0 and at most 1 (e.g. 0.1 or 10%)")
            }),
            Err(_) => Err(format!(
                "'{text}' is not a rate: expected a number more than 0 and at most 1, e.g. 0.1 or 10%"
            )),
        }
    }

    pub fn new(rate: f64) -> Option<Self> {
        (rate > 0.0 && rate <= 1.0).then_some(SampleRate(rate))
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl fmt::Display for SampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a recording does with one inbound request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Store it.
    Keep,
    /// Left out by `--include` / `--exclude`.
    Filtered,
    /// A read left out by `--sample`.
    SampledOut,
}

/// The filters of one recording, and what they left out so far.
#[derive(Debug, Default)]
pub struct RecordFilter {
    include: Vec<RoutePattern>,
    exclude: Vec<RoutePattern>,
    sample: Option<Sampler>,
    filtered_out: AtomicU64,
    sampled_out: AtomicU64,
}

#[derive(Debug)]
struct Sampler {
    rate: SampleRate,
    seed: u64,
    /// A read is kept when its draw is below this.
    threshold: u64,
    /// Reads decided so far: the index of the next draw.
    reads: AtomicU64,
}

impl RecordFilter {
    /// With `sample`, the `seed` decides which reads are kept: the same seed
    /// and the same order of reads keep the same ones.
    pub fn new(
        include: Vec<RoutePattern>,
        exclude: Vec<RoutePattern>,
        sample: Option<SampleRate>,
        seed: u64,
    ) -> Self {
        RecordFilter {
            include,
            exclude,
            sample: sample.map(|rate| Sampler {
                rate,
                seed,
                threshold: if rate.0 >= 1.0 {
                    u64::MAX
                } else {
                    (rate.0 * 2f64.powi(64)) as u64
                },
                reads: AtomicU64::new(0),
            }),
            filtered_out: AtomicU64::new(0),
            sampled_out: AtomicU64::new(0),
        }
    }

    /// Whether it keeps every request.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty() && self.sample.is_none()
    }

    /// Decides an inbound request by its method and request target as
    /// received, and counts what it leaves out.
    pub fn decide(&self, method: &[u8], target: &[u8]) -> Verdict {
        let path = path_of(target);
        let hit = |list: &[RoutePattern]| list.iter().any(|p| p.matches(method, path));
        if (!self.include.is_empty() && !hit(&self.include)) || hit(&self.exclude) {
            self.filtered_out.fetch_add(1, Ordering::Relaxed);
            return Verdict::Filtered;
        }
        if let Some(s) = &self.sample {
            if is_read(method) {
                let n = s.reads.fetch_add(1, Ordering::Relaxed);
                if s.rate.0 < 1.0 && draw(s.seed, n) >= s.threshold {
                    self.sampled_out.fetch_add(1, Ordering::Relaxed);
                    return Verdict::SampledOut;
                }
            }
        }
        Verdict::Keep
    }

    /// Requests left out by `--include` / `--exclude` so far.
    pub fn filtered_out(&self) -> u64 {
        self.filtered_out.load(Ordering::Relaxed)
    }

    /// Reads left out by `--sample` so far.
    pub fn sampled_out(&self) -> u64 {
        self.sampled_out.load(Ordering::Relaxed)
    }

    /// The settings and counts, as kept in the session's setup under
    /// `filter` (see [`FilterSummary`]).
    pub fn to_json(&self) -> Value {
        let texts = |l: &[RoutePattern]| l.iter().map(|p| p.text.clone()).collect::<Vec<_>>();
        json!({
            "include": texts(&self.include),
            "exclude": texts(&self.exclude),
            "sample": self.sample.as_ref().map(|s| s.rate.0),
            "sample_seed": self.sample.as_ref().map(|s| s.seed),
            "filtered_out": self.filtered_out(),
            "sampled_out": self.sampled_out(),
        })
    }
}

/// GET, HEAD and OPTIONS: what `--sample` may leave out. Everything else
/// may change the app's state and is always kept.
pub fn is_read(method: &[u8]) -> bool {
    matches!(method, b"GET" | b"HEAD" | b"OPTIONS")
}

/// The path of a request target: no query or fragment, and for an
/// absolute-form target (`http://host/p`) no scheme and authority.
fn path_of(target: &[u8]) -> &[u8] {
    let mut t = target;
    if let Some(i) = find(t, b"://").filter(|&i| t[..i].iter().all(u8::is_ascii_alphabetic)) {
        let after = &t[i + 3..];
        t = after
            .iter()
            .position(|&b| b == b'/')
            .map_or(b"/".as_slice(), |j| &after[j..]);
    }
    let end = t
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(t.len());
    &t[..end]
}

/// The `n`th number of the splitmix64 sequence started at `seed`: uniform,
/// and the same for the same seed and index.
fn draw(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add((n + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a session's `filter` setup says: the filters it was recorded with
/// and the inbound requests they left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterSummary {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub sample: Option<f64>,
    pub sample_seed: Option<u64>,
    pub filtered_out: u64,
    pub sampled_out: u64,
}

impl FilterSummary {
    /// From a session's setup; `None` when it was recorded without filters.
    pub fn from_setup(setup: &Value) -> Option<Self> {
        let f = setup.get("filter")?;
        let texts = |k: &str| -> Vec<String> {
            f.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let count = |k: &str| f.get(k).and_then(Value::as_u64).unwrap_or(0);
        Some(FilterSummary {
            include: texts("include"),
            exclude: texts("exclude"),
            sample: f.get("sample").and_then(Value::as_f64),
            sample_seed: f.get("sample_seed").and_then(Value::as_u64),
            filtered_out: count("filtered_out"),
            sampled_out: count("sampled_out"),
        })
    }

    /// Inbound requests proxied but not stored.
    pub fn left_out(&self) -> u64 {
        self.filtered_out + self.sampled_out
    }
}

#[cfg(test)]
mod tests;
