//! The data model: sessions, exchanges and their payloads.
//!
//! An [`Exchange`] is one request and its response on one connection, in either
//! direction and for any protocol. HTTP payloads keep everything needed to replay
//! byte-exact: method, target, version, headers in order with duplicates, and body
//! bytes as received (a `Content-Encoding` body stays encoded). Wire protocols keep
//! their decoded messages next to the raw bytes.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::Serialize;

use crate::body::{encode_bytes, serialize_header_value};
use crate::time::Micros;

/// One recording run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Session {
    pub id: i64,
    pub name: String,
    pub started_at: Micros,
    pub ended_at: Option<Micros>,
    /// The app target (`--upstream`).
    pub target: String,
    pub notes: Option<String>,
    /// Captures that could not be stored (must be 0 on a healthy run).
    pub dropped: u64,
    /// How the recording was set up: `listen`, `upstream`, `dependencies`
    /// (name, protocol, listen, target), `http_proxy`, the `app` command and
    /// the `recorder` process (see [`Recorder`]).
    pub setup: serde_json::Value,
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    /// Its recorder is still running.
    Recording,
    /// Its recorder stopped without ending it (killed, crashed, the machine
    /// restarted): what it stored until then is kept.
    Interrupted,
    Ended,
}

impl Session {
    pub fn state(&self) -> SessionState {
        if self.ended_at.is_some() {
            return SessionState::Ended;
        }
        match self.setup.get("recorder").map(Recorder::alive) {
            Some(false) => SessionState::Interrupted,
            // Sessions from before reel noted its recorder: taken at their word.
            _ => SessionState::Recording,
        }
    }

    /// The recorder's process id, while it records.
    pub fn recorder_pid(&self) -> Option<u32> {
        let pid = self.setup.get("recorder")?.get("pid")?.as_u64()?;
        (self.state() == SessionState::Recording).then_some(pid as u32)
    }
}

/// The process that records a session, told apart from a later process
/// with the same id by its start time and the boot it ran in.
pub struct Recorder;

impl Recorder {
    /// This process, as stored in a session's setup.
    pub fn this_process() -> serde_json::Value {
        let pid = std::process::id();
        serde_json::json!({
            "pid": pid,
            "started": start_ticks(pid),
            "boot": boot_id(),
        })
    }

    /// Whether the process a setup's `recorder` names still runs. Unknown
    /// (another machine's boot, no /proc): taken as running.
    pub fn alive(recorder: &serde_json::Value) -> bool {
        let Some(pid) = recorder.get("pid").and_then(serde_json::Value::as_u64) else {
            return true;
        };
        let boot = recorder.get("boot").and_then(serde_json::Value::as_str);
        if boot.is_some() && boot_id().as_deref() != boot {
            // Recorded before this machine last started: no process of then runs now.
            return boot_id().is_none();
        }
        match (
            recorder.get("started").and_then(serde_json::Value::as_u64),
            start_ticks(pid as u32),
        ) {
            (Some(then), Some(now)) => then == now,
            (_, None) => !std::path::Path::new("/proc/self").exists(),
            (None, Some(_)) => true,
        }
    }
}

/// A process's start time in clock ticks since boot (`/proc/PID/stat`, field 22).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A call to the app.
    Inbound,
    /// The app calling a dependency.
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Postgres,
    Redis,
    Mysql,
    Tcp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Postgres => "postgres",
            Protocol::Redis => "redis",
            Protocol::Mysql => "mysql",
            Protocol::Tcp => "tcp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "http" => Some(Protocol::Http),
            "postgres" => Some(Protocol::Postgres),
            "redis" => Some(Protocol::Redis),
            "mysql" => Some(Protocol::Mysql),
            "tcp" => Some(Protocol::Tcp),
            _ => None,
        }
    }
}

/// One request/response on one connection.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Exchange {
    #[serde(skip)]
    pub session_id: i64,
    /// Order of the request's arrival within the session, from 1.
    pub seq: i64,
    pub direction: Direction,
    pub protocol: Protocol,
    /// The dependency's name for outbound exchanges.
    pub dependency: Option<String>,
    /// Which connection carried it; unique within a recording run.
    pub connection: u64,
    pub started_at: Micros,
    /// When the first byte of the response arrived.
    pub first_byte_at: Option<Micros>,
    pub ended_at: Option<Micros>,
    pub request: Payload,
    pub response: Option<Payload>,
    pub error: Option<String>,
}

/// What one side of an exchange carried.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    HttpRequest(HttpRequest),
    HttpResponse(HttpResponse),
    /// A wire protocol message group: its decoded form and the raw bytes.
    Wire {
        decoded: DecodedJson,
        raw: Body,
    },
}

/// A wire message group's decoded form, as JSON.
#[derive(Debug, Clone)]
pub enum DecodedJson {
    /// As read back from the store, or built as a value.
    Value(serde_json::Value),
    /// As a recorder hands it over: written as JSON text once, on the
    /// recorder's thread, and stored as it is. (Built as a value there only
    /// to be written out on the store writer's thread, then dropped, it
    /// cost a fifth of what recording pipelined Redis took.)
    Text(Box<serde_json::value::RawValue>),
    /// Not decoded while recording: stored as raw bytes only, and decoded
    /// from them when the session is read (MySQL; see [`Later`]). The store
    /// hands out every exchange decoded; only a recorder and the store
    /// writer see this.
    Later(Later),
}

/// What decoding a MySQL exchange from its raw bytes alone needs of its
/// connection: how the connection phase left it, and the cap it was
/// recorded under. An exchange is kept in this form only when it can be
/// decoded so (see `Conversation::storing_plain_raw`), and only while
/// every exchange of its connection since the connection phase was too,
/// so that reading them in order rebuilds what the connection knew (its
/// prepared statements).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Later {
    pub capabilities: u32,
    pub extended_types: bool,
    pub cap: u64,
    /// How many exchanges of its connection were stored so before it.
    pub nth: u64,
}

impl DecodedJson {
    /// `value` written as JSON text.
    pub fn text<T: Serialize + ?Sized>(value: &T) -> DecodedJson {
        match serde_json::value::to_raw_value(value) {
            Ok(raw) => DecodedJson::Text(raw),
            // Only a map with keys that are not strings fails; the
            // recorders' messages have none. Kept as a value all the same.
            Err(_) => DecodedJson::Value(serde_json::to_value(value).unwrap_or_default()),
        }
    }

    /// As a JSON value (parsed, for one held as text).
    pub fn value(&self) -> std::borrow::Cow<'_, serde_json::Value> {
        match self {
            DecodedJson::Value(v) => std::borrow::Cow::Borrowed(v),
            DecodedJson::Text(t) => {
                std::borrow::Cow::Owned(serde_json::from_str(t.get()).unwrap_or_default())
            }
            DecodedJson::Later(_) => std::borrow::Cow::Owned(serde_json::Value::Null),
        }
    }
}

impl From<serde_json::Value> for DecodedJson {
    fn from(v: serde_json::Value) -> Self {
        DecodedJson::Value(v)
    }
}

impl PartialEq for DecodedJson {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl Serialize for DecodedJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DecodedJson::Value(v) => v.serialize(s),
            DecodedJson::Text(t) => t.serialize(s),
            DecodedJson::Later(_) => s.serialize_unit(),
        }
    }
}

impl Payload {
    pub fn body(&self) -> &Body {
        match self {
            Payload::HttpRequest(r) => &r.body,
            Payload::HttpResponse(r) => &r.body,
            Payload::Wire { raw, .. } => raw,
        }
    }

    pub fn as_http_request(&self) -> Option<&HttpRequest> {
        match self {
            Payload::HttpRequest(r) => Some(r),
            _ => None,
        }
    }

    pub fn as_http_response(&self) -> Option<&HttpResponse> {
        match self {
            Payload::HttpResponse(r) => Some(r),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpRequest {
    pub method: String,
    /// The request target as sent: origin-form (`/a?b`) or absolute-form.
    pub target: String,
    pub version: String,
    #[serde(serialize_with = "serialize_headers")]
    pub headers: Vec<Header>,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpResponse {
    pub status: u16,
    pub version: String,
    #[serde(serialize_with = "serialize_headers")]
    pub headers: Vec<Header>,
    pub body: Body,
}

/// One header line; names keep the case they were received with where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Returns the first value of header `name` (case-insensitive).
pub fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_slice())
}

/// Headers are a list of `[name, value]` pairs: order and duplicates matter.
pub(crate) fn serialize_headers<S: serde::Serializer>(
    headers: &[Header],
    s: S,
) -> Result<S::Ok, S::Error> {
    struct Value<'a>(&'a [u8]);
    impl Serialize for Value<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize_header_value(self.0, s)
        }
    }
    let mut seq = s.serialize_seq(Some(headers.len()))?;
    for h in headers {
        seq.serialize_element(&(&h.name, Value(&h.value)))?;
    }
    seq.end()
}

/// Captured body bytes. `size` counts every byte that passed; `bytes` holds at most
/// the capture cap, and `truncated` says the two differ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub bytes: Vec<u8>,
    pub size: u64,
    pub truncated: bool,
}

impl Body {
    /// The raw bytes as stored: at most `cap`, flagged cut when something
    /// was let go (`cut`, of `size` bytes in all) or the bytes are longer.
    pub fn capped(mut bytes: Vec<u8>, size: u64, cut: bool, cap: usize) -> Self {
        let size = size.max(bytes.len() as u64);
        let truncated = cut || bytes.len() > cap;
        bytes.truncate(cap);
        Body {
            bytes,
            size,
            truncated,
        }
    }

    pub fn complete(bytes: Vec<u8>) -> Self {
        Body {
            size: bytes.len() as u64,
            bytes,
            truncated: false,
        }
    }
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (encoding, data) = encode_bytes(&self.bytes);
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("encoding", encoding)?;
        m.serialize_entry("data", &data)?;
        m.serialize_entry("size", &self.size)?;
        m.serialize_entry("truncated", &self.truncated)?;
        m.end()
    }
}
