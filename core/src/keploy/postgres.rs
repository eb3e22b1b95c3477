//! Keploy's Postgres mocks (`kind: Postgres` in `mocks.yaml`) as the
//! exchanges a recording through reel would have stored.
//!
//! Keploy writes each mock as the messages the app sent
//! (`postgresrequests`) and the server's answer (`postgresresponses`): per
//! bundle, `header` lists the messages' one-letter types in order, and one
//! field per type holds them decoded (`parse`, `bind`, `query`,
//! `row_description`, `data_row`, `command_complete`, ...), in the field
//! names of Keploy's fork of pgproto3. Some bundles also carry `payload`,
//! the bytes themselves in base64. This reads the bytes when they agree with
//! the header, and otherwise builds each message from its field; then it
//! feeds every connection's messages through the grouper the recorder uses,
//! so an imported mock is grouped, stored and generated exactly as a
//! recorded one.
//!
//! What Keploy's format leaves out is put back where the protocol says what
//! it was: the Sync that ends an extended-protocol request (Keploy's header
//! does not list it, yet the server's ReadyForQuery answers it), and the
//! AuthenticationOk that precedes the parameter statuses of a login.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use super::{field, text};
use crate::model::Exchange;
use crate::time::Micros;
use crate::wire::postgres::{
    BackendDecoder, BackendMessage, Decoder, Field, FrontendDecoder, FrontendMessage, Grouper,
    Notice, RequestGroup, Target, TxStatus,
};
use crate::wire::Bytes;

/// The dependency Keploy's Postgres mocks become: Keploy does not name it
/// or say where it was, so the app finds replay's mock in `REEL_DEP_POSTGRES`.
pub const DEPENDENCY: &str = "postgres";

/// The connections of a test set's Postgres mocks, each with its grouper.
#[derive(Default)]
pub(super) struct Connections {
    /// By Keploy's `connectionId`, or by order of StartupMessage when a
    /// version wrote none.
    open: BTreeMap<String, (u64, Grouper, Micros)>,
    /// The connection a mock without `connectionId` belongs to: the one
    /// whose StartupMessage came last; and whether its last request asked
    /// for encryption (its login is still to come).
    current: Option<(String, bool)>,
    groups: Vec<(u64, RequestGroup)>,
    /// Connection numbers already handed out, across test sets.
    count: u64,
    /// Connections with a mock that could not be read, until their next
    /// login.
    broken: BTreeSet<String>,
    /// Per connection, the parameter types of each prepared statement.
    param_types: BTreeMap<String, BTreeMap<String, Vec<u32>>>,
}

/// Types whose values are never empty, in text or binary: bool, int8,
/// int2, int4, oid, json, cidr, float4, float8, money, inet, date, time,
/// timestamp, timestamptz, interval, timetz, numeric, uuid, jsonb.
const NO_EMPTY_VALUE: &[u32] = &[
    16, 20, 21, 23, 26, 114, 650, 700, 701, 790, 869, 1082, 1083, 1114, 1184, 1186, 1266, 1700,
    2950, 3802,
];

/// When a mock's request was sent and its answer came.
fn times(spec: &Value) -> Result<(Micros, Micros), String> {
    let at = |names: &[&str]| -> Result<Option<Micros>, String> {
        let Some(v) = field(spec, names) else {
            return Ok(None);
        };
        let t = text(Some(v));
        chrono::DateTime::parse_from_rfc3339(&t)
            .map(|t| Some(Micros(t.timestamp_micros())))
            .map_err(|e| format!("{}: '{t}' is not an RFC 3339 time: {e}", names[0]))
    };
    let sent = at(&["reqtimestampmock", "ReqTimestampMock"])?.unwrap_or(Micros(0));
    let answered = at(&["restimestampmock", "ResTimestampMock"])?.unwrap_or(sent);
    Ok((sent, answered))
}

impl Connections {
    /// Takes one Postgres mock document; the error says what in it could
    /// not be read, by its path in the document. A mock that cannot be read
    /// takes the rest of its connection's mocks with it, up to its next
    /// login: without it, what follows would be grouped wrongly.
    pub(super) fn mock(&mut self, doc: &Value) -> Result<(), String> {
        use FrontendMessage as F;
        let spec = field(doc, &["spec"]).ok_or("spec: missing")?;
        let id = field(doc, &["connectionId", "connection_id"])
            .or_else(|| field(spec, &["connectionId", "connection_id"]))
            .map(|v| text(Some(v)));
        let parsed = messages(spec).and_then(|m| Ok((m, times(spec)?)));
        // What begins a connection, by its first message or, when the
        // messages cannot be read, by Keploy's name for its bundle.
        let first = parsed.as_ref().ok().and_then(|(m, _)| m.requests.first());
        let negotiates = matches!(first, Some(F::SSLRequest | F::GSSENCRequest));
        let cancels = matches!(first, Some(F::CancelRequest { .. }));
        let begins = match &parsed {
            Ok(_) => negotiates || cancels || matches!(first, Some(F::StartupMessage { .. })),
            Err(_) => field(spec, &["postgresrequests"])
                .and_then(|r| r.get(0))
                .is_some_and(|b| {
                    text(field(b, &["identifier"])).eq_ignore_ascii_case("StartupRequest")
                }),
        };
        let key = id.unwrap_or_else(|| match (&self.current, begins) {
            // A cancel request comes on a connection of its own.
            _ if cancels => format!("#cancel{}", self.count),
            // After an encryption request, the login is on that connection.
            (Some((k, true)), _) => k.clone(),
            // Without ids, each connection begins with its login.
            (_, true) => format!("#{}", self.count),
            (Some((k, _)), false) => k.clone(),
            (None, false) => "#".to_owned(),
        });
        let continues = matches!(&self.current, Some((k, true)) if *k == key);
        // A new connection on an id seen before: Keploy reuses the ids of
        // closed connections, so the earlier one ended.
        if begins && !continues {
            self.close(&key);
            self.broken.remove(&key);
            self.param_types.remove(&key);
        }
        if !cancels {
            self.current = Some((key.clone(), negotiates));
        }
        let (mut mock, (sent, answered)) =
            match parsed {
                Ok(p) if !self.broken.contains(&key) => p,
                Ok(_) => return Err(
                    "left out with the mock before it on its connection, which could not be read"
                        .to_owned(),
                ),
                Err(e) => {
                    self.close(&key);
                    self.broken.insert(key);
                    return Err(e);
                }
            };
        // As when recording: reel answers an encryption request itself and
        // stores neither it nor its answer.
        if negotiates {
            return Ok(());
        }
        self.empty_params(&key, &mut mock);
        let Mock {
            requests,
            responses,
            ..
        } = mock;
        let count = &mut self.count;
        let (conn, grouper, last) = self.open.entry(key.clone()).or_insert_with(|| {
            *count += 1;
            (*count, Grouper::new(), sent)
        });
        let mut raw = Vec::new();
        for m in requests {
            raw.clear();
            m.encode(&mut raw);
            for g in grouper.client(m, &raw, sent) {
                self.groups.push((*conn, g));
            }
        }
        for m in responses {
            raw.clear();
            m.encode(&mut raw);
            if let Some(g) = grouper.server(m, &raw, answered) {
                self.groups.push((*conn, g));
            }
        }
        *last = (*last).max(answered);
        if cancels {
            self.close(&key);
        }
        Ok(())
    }

    /// Keploy writes a NULL parameter and an empty one alike, `[]`. Where
    /// the statement's parameter type is known (its Parse named it, or the
    /// server described it) and an empty value is not one of that type's
    /// (a number, a date, a uuid, JSON...), the parameter was NULL; else it
    /// is taken as empty, as Keploy's own replay sends it.
    fn empty_params(&mut self, key: &str, mock: &mut Mock) {
        let types = self.param_types.entry(key.to_owned()).or_default();
        let described = mock.responses.iter().find_map(|m| match m {
            BackendMessage::ParameterDescription { types } => Some(types.clone()),
            _ => None,
        });
        for m in &mock.requests {
            match m {
                FrontendMessage::Parse {
                    statement,
                    param_types,
                    ..
                } => {
                    types.insert(statement.clone(), param_types.clone());
                }
                FrontendMessage::Describe {
                    kind: Target::Statement,
                    name,
                } => {
                    if let Some(d) = &described {
                        types.insert(name.clone(), d.clone());
                    }
                }
                _ => {}
            }
        }
        for &(k, j) in &mock.empty_params {
            let FrontendMessage::Bind {
                statement, params, ..
            } = &mut mock.requests[k]
            else {
                continue;
            };
            let oid = types
                .get(statement.as_str())
                .and_then(|t| t.get(j))
                .copied()
                .unwrap_or(0);
            if NO_EMPTY_VALUE.contains(&oid) {
                params[j] = None;
            }
        }
    }

    /// Ends every connection: the next test set's mocks are on their own.
    pub(super) fn end_set(&mut self) {
        let keys: Vec<String> = self.open.keys().cloned().collect();
        for k in keys {
            self.close(&k);
        }
        self.current = None;
        self.broken.clear();
        self.param_types.clear();
    }

    fn close(&mut self, key: &str) {
        if let Some((conn, grouper, last)) = self.open.remove(key) {
            self.groups
                .extend(grouper.finish(last).into_iter().map(|g| (conn, g)));
        }
    }

    /// Every exchange, in the order the app sent them.
    pub(super) fn finish(mut self) -> Vec<Exchange> {
        self.end_set();
        let mut out: Vec<Exchange> = self
            .groups
            .into_iter()
            .map(|(conn, g)| {
                let error = g
                    .responses
                    .is_empty()
                    .then(|| "Keploy's mocks hold no answer to this".to_owned());
                g.into_exchange(DEPENDENCY, conn, usize::MAX, error)
            })
            .collect();
        out.sort_by_key(|x| x.started_at);
        out
    }
}

/// A mock's messages: what the app sent and what the server answered.
struct Mock {
    requests: Vec<FrontendMessage>,
    responses: Vec<BackendMessage>,
    /// Bind parameters read from Keploy's `[]`, which it writes for NULL
    /// and for an empty value alike: (message, parameter).
    empty_params: Vec<(usize, usize)>,
}

fn messages(spec: &Value) -> Result<Mock, String> {
    let bundles = |names: &[&str]| match field(spec, names) {
        Some(Value::Array(a)) => Ok(a.as_slice()),
        Some(Value::Null) | None => Ok(&[][..]),
        Some(_) => Err(format!("{}: not a list", names[0])),
    };
    let mut requests = Vec::new();
    let mut empty_params = Vec::new();
    for (i, b) in bundles(&["postgresrequests"])?.iter().enumerate() {
        let from = requests.len();
        let built = frontend(b, &mut requests).map_err(|e| format!("postgresrequests[{i}].{e}"))?;
        if !built {
            continue;
        }
        for (k, m) in requests.iter().enumerate().skip(from) {
            if let FrontendMessage::Bind { params, .. } = m {
                empty_params.extend(
                    params
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p.as_ref().is_some_and(|p| p.is_empty()))
                        .map(|(j, _)| (k, j)),
                );
            }
        }
    }
    let mut responses = Vec::new();
    for (i, b) in bundles(&["postgresresponses"])?.iter().enumerate() {
        backend(b, &mut responses).map_err(|e| format!("postgresresponses[{i}].{e}"))?;
    }
    if requests.is_empty() {
        if field(spec, &["requests"]).is_some() {
            return Err(
                "spec.requests: Keploy's packet layout of Postgres mocks, which reel does not read (it reads postgresrequests and postgresresponses)"
                    .to_owned(),
            );
        }
        return Err("postgresrequests: no message".to_owned());
    }
    // Keploy's header leaves out the Sync or Flush that closes the last
    // extended-protocol request of what it read (one in the middle it
    // keeps); the server's answer says which was sent.
    use FrontendMessage as F;
    let last_extended = requests.iter().rposition(|m| {
        matches!(
            m,
            F::Parse { .. }
                | F::Bind { .. }
                | F::Describe { .. }
                | F::Execute { .. }
                | F::Close { .. }
        )
    });
    let last_synced = requests
        .iter()
        .rposition(|m| matches!(m, F::Sync | F::Flush));
    // Each of these is answered by a ReadyForQuery of its own.
    let syncs = requests
        .iter()
        .filter(|m| {
            matches!(
                m,
                F::Sync | F::Query { .. } | F::FunctionCall { .. } | F::StartupMessage { .. }
            )
        })
        .count();
    let readies = responses
        .iter()
        .filter(|m| matches!(m, BackendMessage::ReadyForQuery { .. }))
        .count();
    if last_extended > last_synced && !responses.is_empty() {
        // An answer without its ReadyForQuery comes only after a Flush.
        requests.push(match readies > syncs {
            true => F::Sync,
            false => F::Flush,
        });
    }
    // What the fields said must also be something that can be sent.
    for (i, m) in requests.iter().enumerate() {
        m.check()
            .map_err(|why| format!("postgresrequests: message {} ({}): {why}", i + 1, m.name()))?;
    }
    for (i, m) in responses.iter().enumerate() {
        m.check()
            .map_err(|why| format!("postgresresponses: message {} ({}): {why}", i + 1, m.name()))?;
    }
    Ok(Mock {
        requests,
        responses,
        empty_params,
    })
}

/// Why a bundle's messages could not be taken from its bytes.
fn no_bytes(bundle: &Value) -> &'static str {
    match text(field(bundle, &["payload"])).is_empty() {
        true => "there is no payload",
        false => "its payload is not whole messages of the types its header lists",
    }
}

/// The one-letter types a bundle's header lists.
fn header(bundle: &Value) -> Result<Vec<u8>, String> {
    let Some(h) = field(bundle, &["header"]) else {
        return Ok(Vec::new());
    };
    let items = h.as_array().ok_or("header: not a list")?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            // An unquoted `1` (ParseComplete) reads as a number.
            Value::Number(n) if n.as_u64().is_some_and(|n| n < 10) => {
                Ok(b'0' + n.as_u64().unwrap_or(0) as u8)
            }
            Value::String(s) if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
            other => Err(format!("header[{i}]: {other} is not a message type letter")),
        })
        .collect()
}

/// The bundle's `payload` bytes, when they are whole messages of the types
/// its header lists; otherwise `None`, and the messages are built from
/// their fields. Keploy's header leaves out a message of five bytes at the
/// end of what it read (Sync, Flush, Terminate, CopyDone; ParseComplete,
/// BindComplete and the like), so those do not count.
fn from_payload<D: Decoder>(
    bundle: &Value,
    (letters, short): (&[u8], &[u8]),
    mut decoder: D,
    tag: impl Fn(&[u8]) -> u8,
) -> Option<Vec<D::Message>> {
    let b64 = text(field(bundle, &["payload"]));
    if b64.is_empty() {
        return None;
    }
    decoder.push(&STANDARD.decode(b64.trim()).ok()?);
    let mut decoded = Vec::new();
    while let Ok(Some((m, raw))) = decoder.next() {
        decoded.push((m, tag(&raw)));
    }
    if decoder.buffered() > 0 || decoded.is_empty() {
        return None;
    }
    let sent: Vec<u8> = decoded.iter().map(|(_, t)| *t).collect();
    let bare = |t: &[u8]| -> Vec<u8> { t.iter().copied().filter(|t| !short.contains(t)).collect() };
    let agrees = letters.is_empty() || sent == letters || bare(&sent) == bare(letters);
    agrees.then(|| decoded.into_iter().map(|(m, _)| m).collect())
}

/// Reads a bundle's messages into `out`; `true` when they were built from
/// their fields, not read from the payload's bytes.
fn frontend(bundle: &Value, out: &mut Vec<FrontendMessage>) -> Result<bool, String> {
    let letters = header(bundle)?;
    let startup = text(field(bundle, &["identifier"])).eq_ignore_ascii_case("StartupRequest")
        || (letters.is_empty() && field(bundle, &["startup_message"]).is_some());
    let decoder = match startup {
        true => FrontendDecoder::new(),
        false => FrontendDecoder::after_startup(),
    };
    // Startup packets are untagged.
    let tag = |raw: &[u8]| if startup { 0 } else { raw[0] };
    let decoded = from_payload(bundle, (&letters, b"SHXc"), decoder, tag);
    if let Some(ms) = decoded {
        out.extend(ms);
        return Ok(false);
    }
    if startup {
        out.push(startup_message(bundle)?);
        return Ok(true);
    }
    if letters.is_empty() {
        return Err(format!("header: missing, and {}", no_bytes(bundle)));
    }
    for (_, letter, i) in numbered(&letters) {
        out.push(frontend_message(bundle, letter, i)?);
    }
    Ok(true)
}

/// Each header letter with its place, and how many of the same letter
/// came before it: which value of its field it is.
fn numbered(letters: &[u8]) -> impl Iterator<Item = (usize, u8, usize)> + '_ {
    let mut seen = [0usize; 256];
    letters.iter().enumerate().map(move |(at, &letter)| {
        let i = seen[usize::from(letter)];
        seen[usize::from(letter)] += 1;
        (at, letter, i)
    })
}

/// The `i`th value of a field Keploy writes as a list (`parse`, `bind`,
/// `execute`), or the field itself when it is one value (`describe`,
/// `close`: Keploy keeps only the last of those).
fn nth<'a>(bundle: &'a Value, name: &str, i: usize) -> Result<&'a Value, String> {
    match field(bundle, &[name]) {
        Some(Value::Array(a)) => a
            .get(i)
            .ok_or_else(|| format!("{name}[{i}]: missing (the header lists more)")),
        Some(v) if !v.is_null() => Ok(v),
        _ => Err(format!("{name}: missing")),
    }
}

fn startup_message(bundle: &Value) -> Result<FrontendMessage, String> {
    let m = field(bundle, &["startup_message"]).ok_or("startup_message: missing")?;
    let protocol = match field(m, &["protocolversion", "protocol_version"]) {
        None => crate::wire::postgres::PROTOCOL_V3,
        Some(_) => int(m, &["protocolversion", "protocol_version"])
            .map_err(|e| format!("startup_message.{e}"))?,
    };
    let mut params: Vec<(String, String)> = field(m, &["parameters"])
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.clone(), text(Some(v)))).collect())
        .unwrap_or_default();
    // Keploy keeps the parameters as a map; `user` comes first on the wire.
    params.sort_by_key(|(k, _)| k != "user");
    Ok(FrontendMessage::StartupMessage { protocol, params })
}

fn frontend_message(bundle: &Value, letter: u8, i: usize) -> Result<FrontendMessage, String> {
    use FrontendMessage as F;
    let s = |v: &Value, names: &[&str]| text(field(v, names));
    Ok(match letter {
        b'Q' => F::Query {
            sql: s(nth(bundle, "query", i)?, &["string"]),
        },
        b'P' => {
            let p = nth(bundle, "parse", i)?;
            F::Parse {
                statement: s(p, &["name"]),
                sql: s(p, &["query"]),
                param_types: numbers(field(p, &["parameter_oids", "parameteroids"]))
                    .map_err(|e| format!("parse[{i}].parameter_oids: {e}"))?,
            }
        }
        b'B' => {
            let b = nth(bundle, "bind", i)?;
            let params = match field(b, &["parameters"]) {
                Some(Value::Array(ps)) => ps
                    .iter()
                    .enumerate()
                    .map(|(j, p)| {
                        value_bytes(p).map_err(|e| format!("bind[{i}].parameters[{j}]: {e}"))
                    })
                    .collect::<Result<_, _>>()?,
                Some(Value::Null) | None => Vec::new(),
                Some(_) => return Err(format!("bind[{i}].parameters: not a list")),
            };
            F::Bind {
                portal: s(b, &["destination_portal", "destinationportal"]),
                statement: s(b, &["prepared_statement", "preparedstatement"]),
                param_formats: numbers(field(
                    b,
                    &["parameter_format_codes", "parameterformatcodes"],
                ))
                .map_err(|e| format!("bind[{i}].parameter_format_codes: {e}"))?,
                params,
                result_formats: numbers(field(b, &["result_format_codes", "resultformatcodes"]))
                    .map_err(|e| format!("bind[{i}].result_format_codes: {e}"))?,
            }
        }
        b'D' => {
            let d = nth(bundle, "describe", i)?;
            F::Describe {
                kind: target(field(d, &["object_type", "objecttype"]))
                    .map_err(|e| format!("describe.object_type: {e}"))?,
                name: s(d, &["name"]),
            }
        }
        b'C' => {
            let c = nth(bundle, "close", i)?;
            F::Close {
                kind: target(field(c, &["object_type", "objecttype"]))
                    .map_err(|e| format!("close.object_type: {e}"))?,
                name: s(c, &["name"]),
            }
        }
        b'E' => {
            let e = nth(bundle, "execute", i)?;
            F::Execute {
                portal: s(e, &["portal"]),
                max_rows: int(e, &["max_rows", "maxrows"])
                    .map_err(|e| format!("execute[{i}].{e}"))?,
            }
        }
        b'S' => F::Sync,
        b'H' => F::Flush,
        b'X' => F::Terminate,
        b'c' => F::CopyDone,
        b'd' => F::CopyData {
            data: copy_data(bundle, i)?,
        },
        b'f' => F::CopyFail {
            message: s(nth(bundle, "copy_fail", i)?, &["message"]),
        },
        b'p' => F::PasswordMessage {
            data: Bytes(password_data(bundle)?),
        },
        other => {
            return Err(format!(
                "header: message type '{}' is kept by Keploy in no field reel can read, and {}",
                other as char,
                no_bytes(bundle)
            ))
        }
    })
}

/// The bytes of the `i`th CopyData, either way.
fn copy_data(bundle: &Value, i: usize) -> Result<Bytes, String> {
    let data = field(nth(bundle, "copy_data", i)?, &["data"]).unwrap_or(&Value::Null);
    Ok(value_bytes(data)
        .map_err(|e| format!("copy_data.data: {e}"))?
        .unwrap_or_default())
}

/// What a `p` message carries: a SASL response, a SASL initial response
/// (mechanism, then its data), or a password (NUL-terminated).
fn password_data(bundle: &Value) -> Result<Vec<u8>, String> {
    let data = |v: &Value| -> Result<Vec<u8>, String> {
        Ok(value_bytes(field(v, &["data"]).unwrap_or(&Value::Null))?
            .unwrap_or_default()
            .0)
    };
    if let Some(init) = field(bundle, &["sasl_initial_response"]) {
        let mechanism = text(field(init, &["auth_mechanism", "authmechanism"]));
        if !mechanism.is_empty() {
            let d = data(init).map_err(|e| format!("sasl_initial_response.data: {e}"))?;
            let mut out = mechanism.into_bytes();
            out.push(0);
            out.extend_from_slice(&(d.len() as i32).to_be_bytes());
            out.extend(d);
            return Ok(out);
        }
    }
    if let Some(r) = field(bundle, &["sasl_response"]) {
        let d = data(r).map_err(|e| format!("sasl_response.data: {e}"))?;
        if !d.is_empty() {
            return Ok(d);
        }
    }
    // Keploy keeps nothing of some (a SCRAM client's final message): an
    // empty one stands in, which is all replay needs, as its mock takes
    // any password.
    let password = field(bundle, &["password_message"])
        .map_or_else(String::new, |m| text(field(m, &["password"])));
    let mut out = password.into_bytes();
    out.push(0);
    Ok(out)
}

fn backend(bundle: &Value, out: &mut Vec<BackendMessage>) -> Result<(), String> {
    let letters = header(bundle)?;
    // The one unframed byte that answers an SSLRequest: Keploy keeps it as
    // the payload alone.
    if letters.is_empty() {
        let payload = STANDARD.decode(text(field(bundle, &["payload"])).trim());
        if let Ok([answer @ (b'N' | b'S')]) = payload.as_deref() {
            out.push(BackendMessage::EncryptionResponse {
                accepted: *answer == b'S',
            });
            return Ok(());
        }
    }
    let decoded = from_payload(
        bundle,
        (&letters, b"123nIsc"),
        BackendDecoder::new(),
        |raw| raw[0],
    );
    if let Some(ms) = decoded {
        out.extend(ms);
        return Ok(());
    }
    if letters.is_empty() {
        return Err(format!("header: missing, and {}", no_bytes(bundle)));
    }
    for (at, letter, i) in numbered(&letters) {
        // The last `R` before the login's statuses is its
        // AuthenticationOk, whatever `auth_type` says; one before it (a
        // SASL final message) is what its field holds.
        let rest = &letters[at + 1..];
        let auth = match rest.contains(&b'R') {
            true => Auth::Earlier,
            false if rest.iter().any(|l| matches!(l, b'S' | b'K' | b'Z')) => Auth::Done,
            false => Auth::AsTyped,
        };
        out.push(backend_message(bundle, letter, i, auth)?);
    }
    Ok(())
}

/// Which `R` of a bundle a message is (see [`backend`]).
#[derive(Clone, Copy)]
enum Auth {
    Earlier,
    Done,
    AsTyped,
}

fn backend_message(
    bundle: &Value,
    letter: u8,
    i: usize,
    auth: Auth,
) -> Result<BackendMessage, String> {
    use BackendMessage as B;
    let s = |v: &Value, names: &[&str]| text(field(v, names));
    Ok(match letter {
        b'R' => authentication(bundle, auth)?,
        b'S' => {
            let p = nth(bundle, "parameter_status", i)?;
            B::ParameterStatus {
                name: s(p, &["name"]),
                value: s(p, &["value"]),
            }
        }
        b'K' => {
            let k = nth(bundle, "backend_key_data", i)?;
            let key = |names: &[&str]| -> Result<[u8; 4], String> {
                // Keploy writes both as unsigned 32-bit numbers.
                Ok(int::<u32>(k, names)
                    .map_err(|e| format!("backend_key_data.{e}"))?
                    .to_be_bytes())
            };
            B::BackendKeyData {
                process_id: i32::from_be_bytes(key(&["process_id", "processid"])?),
                secret_key: Bytes(key(&["secret_key", "secretkey"])?.to_vec()),
            }
        }
        b'Z' => {
            let z = nth(bundle, "ready_for_query", i)?;
            let status = field(z, &["txstatus", "tx_status"]).filter(|v| !v.is_null());
            B::ReadyForQuery {
                status: match status.map(letter_code) {
                    None | Some(Some(b'I')) => TxStatus::Idle,
                    Some(Some(b'T')) => TxStatus::InTransaction,
                    Some(Some(b'E')) => TxStatus::Failed,
                    Some(_) => {
                        return Err(format!(
                            "ready_for_query.txstatus: {} is not I (73), T (84) or E (69)",
                            status.unwrap_or(&Value::Null)
                        ))
                    }
                },
            }
        }
        b'T' => {
            let fields = match field(nth(bundle, "row_description", i)?, &["fields"]) {
                Some(Value::Array(fs)) => fs,
                _ => return Err("row_description.fields: missing".to_owned()),
            };
            B::RowDescription {
                fields: fields
                    .iter()
                    .enumerate()
                    .map(|(j, f)| {
                        row_field(f).map_err(|e| format!("row_description.fields[{j}].{e}"))
                    })
                    .collect::<Result<_, _>>()?,
            }
        }
        b'D' => {
            let row = nth(bundle, "data_row", i)?;
            let values = match field(row, &["row_values", "values"]) {
                Some(Value::Array(vs)) => vs
                    .iter()
                    .enumerate()
                    .map(|(j, v)| {
                        row_value(v).map_err(|e| format!("data_row[{i}].row_values[{j}]: {e}"))
                    })
                    .collect::<Result<_, _>>()?,
                Some(Value::Null) | None => Vec::new(),
                Some(_) => return Err(format!("data_row[{i}].row_values: not a list")),
            };
            B::DataRow { values }
        }
        b'C' => {
            let c = nth(bundle, "command_complete", i)?;
            let tag = match field(c, &["command_tag_type"]) {
                Some(Value::String(t)) if !t.is_empty() => t.clone(),
                _ => {
                    let t = value_bytes(field(c, &["command_tag"]).unwrap_or(&Value::Null))
                        .map_err(|e| format!("command_complete[{i}].command_tag: {e}"))?
                        .unwrap_or_default();
                    String::from_utf8_lossy(&t).into_owned()
                }
            };
            B::CommandComplete { tag }
        }
        b'E' => B::ErrorResponse {
            fields: notice_fields(nth(bundle, "error_response", i)?),
        },
        b'N' => B::NoticeResponse {
            fields: notice_fields(nth(bundle, "notice_response", i)?),
        },
        b'A' => {
            let a = nth(bundle, "notification_response", i)?;
            B::NotificationResponse {
                process_id: i32::from_be_bytes(
                    int::<u32>(a, &["pid", "process_id"])
                        .map_err(|e| format!("notification_response.{e}"))?
                        .to_be_bytes(),
                ),
                channel: s(a, &["channel"]),
                payload: s(a, &["payload"]),
            }
        }
        b't' => B::ParameterDescription {
            types: numbers(field(
                nth(bundle, "parameter_description", i)?,
                &["parameteroids", "parameter_oids"],
            ))
            .map_err(|e| format!("parameter_description.parameteroids: {e}"))?,
        },
        b'I' => B::EmptyQueryResponse,
        b'1' => B::ParseComplete,
        b'2' => B::BindComplete,
        b'3' => B::CloseComplete,
        b'n' => B::NoData,
        b's' => B::PortalSuspended,
        b'c' => B::CopyDone,
        b'd' => B::CopyData {
            data: copy_data(bundle, i)?,
        },
        b'G' | b'H' | b'W' => {
            let name = match letter {
                b'G' => "copy_in_response",
                b'H' => "copy_out_response",
                _ => "copy_both_response",
            };
            let c = nth(bundle, name, i)?;
            let format =
                int(c, &["overall_format", "overallformat"]).map_err(|e| format!("{name}.{e}"))?;
            let column_formats = numbers(field(c, &["column_format_codes", "columnformatcodes"]))
                .map_err(|e| format!("{name}.column_format_codes: {e}"))?;
            B::copy_response(letter, format, column_formats)
        }
        other => {
            return Err(format!(
                "header: message type '{}' is kept by Keploy in no field reel can read, and {}",
                other as char,
                no_bytes(bundle)
            ))
        }
    })
}

/// An `R` message: what the server asked of the client, or that it is in.
fn authentication(bundle: &Value, which: Auth) -> Result<BackendMessage, String> {
    let auth = |code: i32, data: Vec<u8>| BackendMessage::Authentication {
        code,
        data: Bytes(data),
    };
    let has = |name: &str| field(bundle, &[name]).is_some_and(|v| !v.is_null());
    let kind = match which {
        Auth::Done => return Ok(auth(0, Vec::new())),
        Auth::Earlier if has("authentication_sasl_final") => 12,
        Auth::Earlier if has("authentication_sasl_continue") => 11,
        Auth::Earlier => 0,
        Auth::AsTyped => int(bundle, &["auth_type"])?,
    };
    let data_of = |name: &str| -> Result<Vec<u8>, String> {
        let v = field(bundle, &[name])
            .and_then(|v| field(v, &["data"]))
            .unwrap_or(&Value::Null);
        Ok(value_bytes(v)
            .map_err(|e| format!("{name}.data: {e}"))?
            .unwrap_or_default()
            .0)
    };
    Ok(match kind {
        0 => auth(0, Vec::new()),
        3 => auth(3, Vec::new()),
        5 => {
            let salt = field(bundle, &["authentication_md5_password"])
                .and_then(|m| field(m, &["salt"]))
                .unwrap_or(&Value::Null);
            let salt = value_bytes(salt)
                .map_err(|e| format!("authentication_md5_password.salt: {e}"))?
                .unwrap_or_default()
                .0;
            if salt.len() != 4 {
                return Err("authentication_md5_password.salt: not 4 bytes".to_owned());
            }
            auth(5, salt)
        }
        10 => {
            let mechanisms = field(bundle, &["authentication_sasl"])
                .and_then(|m| field(m, &["auth_mechanisms", "authmechanisms"]))
                .and_then(Value::as_array)
                .ok_or("authentication_sasl.auth_mechanisms: missing")?;
            let mut data = Vec::new();
            for m in mechanisms {
                data.extend_from_slice(text(Some(m)).as_bytes());
                data.push(0);
            }
            data.push(0);
            auth(10, data)
        }
        11 => auth(11, data_of("authentication_sasl_continue")?),
        12 => auth(12, data_of("authentication_sasl_final")?),
        other => {
            return Err(format!(
                "auth_type: {other} is an authentication reel does not take from Keploy's fields"
            ))
        }
    })
}

fn row_field(f: &Value) -> Result<Field, String> {
    let name = match field(f, &["field_name"]) {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => {
            let n = value_bytes(field(f, &["name"]).unwrap_or(&Value::Null))
                .map_err(|e| format!("name: {e}"))?
                .unwrap_or_default();
            String::from_utf8_lossy(&n).into_owned()
        }
    };
    Ok(Field {
        name,
        table_oid: int(f, &["table_oid", "tableoid"])?,
        column: int(f, &["table_attribute_number", "tableattributenumber"])?,
        type_oid: int(f, &["data_type_oid", "datatypeoid"])?,
        type_size: int(f, &["data_type_size", "datatypesize"])?,
        type_modifier: int(f, &["type_modifier", "typemodifier"])?,
        format: int(f, &["format"])?,
    })
}

/// A row value as Keploy writes it: text, `b64:` and base64 for bytes that
/// are not printable ASCII, and an empty string for NULL (Keploy's own
/// replay sends an empty value back as NULL, so that is what it recorded).
fn row_value(v: &Value) -> Result<Option<Bytes>, String> {
    match v {
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => match s.strip_prefix("b64:") {
            Some(b64) => STANDARD
                .decode(b64)
                .map(|b| Some(Bytes(b)))
                .map_err(|e| format!("'{s}': not base64 after b64: ({e})")),
            None => Ok(Some(Bytes(s.clone().into_bytes()))),
        },
        other => value_bytes(other),
    }
}

/// Bytes as Go's YAML writes a `[]byte`: a list of numbers; also taken as
/// text, or as `{base64: ...}`. Null is `None` (SQL NULL where it matters).
fn value_bytes(v: &Value) -> Result<Option<Bytes>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(Bytes(s.clone().into_bytes()))),
        Value::Array(items) => items
            .iter()
            .map(|b| {
                b.as_u64()
                    .filter(|b| *b <= 255)
                    .map(|b| b as u8)
                    .ok_or_else(|| format!("{b} is not a byte"))
            })
            .collect::<Result<Vec<u8>, _>>()
            .map(|b| Some(Bytes(b))),
        Value::Object(m) if m.contains_key(super::BINARY) => STANDARD
            .decode(text(m.get(super::BINARY)))
            .map(|b| Some(Bytes(b)))
            .map_err(|e| format!("!!binary: not base64 ({e})")),
        other => Err(format!("{other} is not bytes")),
    }
}

fn numbers<T: TryFrom<i64>>(v: Option<&Value>) -> Result<Vec<T>, String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .map(|n| {
                n.as_i64()
                    .and_then(|n| T::try_from(n).ok())
                    .ok_or_else(|| format!("{n} is not a whole number in range"))
            })
            .collect(),
        Some(Value::Null) | None => Ok(Vec::new()),
        Some(other) => Err(format!("{other} is not a list of numbers")),
    }
}

/// `S` (83) a statement, `P` (80) a portal.
fn target(v: Option<&Value>) -> Result<Target, String> {
    let v = v.ok_or("missing")?;
    match letter_code(v) {
        Some(b'S') => Ok(Target::Statement),
        Some(b'P') => Ok(Target::Portal),
        _ => Err(format!("{v} is not S (83) or P (80)")),
    }
}

/// A one-byte code as Go writes a `byte` (a number) or as a letter.
fn letter_code(v: &Value) -> Option<u8> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        Value::String(s) if s.len() == 1 => Some(s.as_bytes()[0]),
        _ => None,
    }
}

/// A whole-number field (by any of `names`) in `T`'s range; absent is 0,
/// as Go's YAML leaves out zero values. The error names the field.
fn int<T: TryFrom<i64> + Default>(v: &Value, names: &[&str]) -> Result<T, String> {
    match field(v, names) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(n) => n
            .as_i64()
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| format!("{}: {n} is not a whole number in range", names[0])),
    }
}

/// An error's or notice's fields, in the order Postgres and pgproto3 write
/// them; empty ones were not sent.
fn notice_fields(v: &Value) -> Vec<Notice> {
    const CODES: &[(char, &str)] = &[
        ('S', "severity"),
        ('V', "severity_unlocalized"),
        ('C', "code"),
        ('M', "message"),
        ('D', "detail"),
        ('H', "hint"),
        ('P', "position"),
        ('p', "internal_position"),
        ('q', "internal_query"),
        ('W', "where"),
        ('s', "schema_name"),
        ('t', "table_name"),
        ('c', "column_name"),
        ('d', "data_type_name"),
        ('n', "constraint_name"),
        ('F', "file"),
        ('L', "line"),
        ('R', "routine"),
    ];
    let mut out: Vec<Notice> = CODES
        .iter()
        .filter_map(|(code, name)| {
            let value = match field(v, &[name, &name.replace('_', "")])? {
                Value::Number(n) if n.as_i64() == Some(0) => return None,
                other => text(Some(other)),
            };
            (!value.is_empty()).then_some(Notice { code: *code, value })
        })
        .collect();
    if let Some(Value::Object(unknown)) = field(v, &["unknown_fields", "unknownfields"]) {
        for (k, val) in unknown {
            // Keys are the field code, as a number or a letter.
            let code = k
                .parse::<u8>()
                .ok()
                .map(char::from)
                .or_else(|| k.chars().next().filter(|_| k.len() == 1));
            if let Some(code) = code {
                out.push(Notice {
                    code,
                    value: text(Some(val)),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
