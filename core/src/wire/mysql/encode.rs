//! Writes an answer back as the server sent it: from what the
//! [`Conversation`](super::Conversation) read (the `results`, `ok`,
//! `error`, `prepared` of a stored answer) to payloads, for the mock at
//! replay. Text-protocol values are written as they were read; binary ones
//! in their column's type, dates and times as short as their value allows,
//! as servers write them.

use serde_json::{Map, Value};

use super::value::{types, Column, UNSIGNED};
use super::{caps, put_lenenc};
use crate::wire::Bytes;

/// What writing an answer needs of its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    /// The capabilities both sides took up (`DEPRECATE_EOF` matters).
    pub capabilities: u32,
    /// MariaDB's extended type information was taken up.
    pub extended_types: bool,
}

impl Encoding {
    fn deprecate_eof(&self) -> bool {
        self.capabilities & caps::DEPRECATE_EOF != 0
    }
}

/// A value's bytes: a JSON string's, `{"base64": ...}`'s, or a number's
/// text; `None` for anything else.
fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Number(n) => Some(n.to_string().into_bytes()),
        Value::Bool(b) => Some(if *b { b"1".to_vec() } else { b"0".to_vec() }),
        Value::Null | Value::Array(_) => None,
        _ => serde_json::from_value::<Bytes>(v.clone()).ok().map(|b| b.0),
    }
}

fn put_lenenc_bytes(b: &[u8], out: &mut Vec<u8>) {
    put_lenenc(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// A column definition's payload.
pub fn encode_column(c: &Column, enc: Encoding, out: &mut Vec<u8>) {
    put_lenenc_bytes(b"def", out);
    for b in [&c.schema, &c.table, &c.org_table, &c.name, &c.org_name] {
        put_lenenc_bytes(b, out);
    }
    if enc.extended_types {
        put_lenenc_bytes(c.extended.as_deref().unwrap_or_default(), out);
    }
    out.push(0x0c);
    out.extend_from_slice(&c.charset.to_le_bytes());
    out.extend_from_slice(&c.length.to_le_bytes());
    out.push(c.column_type);
    out.extend_from_slice(&c.flags.to_le_bytes());
    out.push(c.decimals);
    out.extend_from_slice(&[0, 0]);
}

/// A text-protocol row's payload: each value as a length-encoded string,
/// NULL as `0xFB`.
pub fn encode_text_row(row: &[Value], out: &mut Vec<u8>) -> Result<(), String> {
    for (i, v) in row.iter().enumerate() {
        match v {
            Value::Null => out.push(0xFB),
            v => put_lenenc_bytes(
                &bytes_of(v).ok_or_else(|| format!("column {}: {v} is no value", i + 1))?,
                out,
            ),
        }
    }
    Ok(())
}

/// A binary-protocol row's payload in `columns`' types.
pub fn encode_binary_row(
    row: &[Value],
    columns: &[Column],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if row.len() != columns.len() {
        return Err(format!(
            "a row of {} values in a result of {} columns",
            row.len(),
            columns.len()
        ));
    }
    out.push(0);
    let start = out.len();
    out.resize(start + (columns.len() + 7 + 2) / 8, 0);
    for (i, (v, c)) in row.iter().zip(columns).enumerate() {
        if v.is_null() {
            let bit = i + 2;
            out[start + bit / 8] |= 1 << (bit % 8);
            continue;
        }
        encode_binary_value(v, c.column_type, c.flags & UNSIGNED != 0, out).map_err(|e| {
            format!(
                "column {} ({}): {e}",
                i + 1,
                String::from_utf8_lossy(&c.name)
            )
        })?;
    }
    Ok(())
}

/// One value in the binary protocol, in type `t`.
pub fn encode_binary_value(
    v: &Value,
    t: u8,
    unsigned: bool,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    use types::*;
    let int = |width: usize, out: &mut Vec<u8>| -> Result<(), String> {
        let n = match (v.as_i64(), v.as_u64()) {
            (_, Some(u)) if unsigned => u as i64,
            (Some(i), _) => i,
            (_, Some(u)) => u as i64,
            _ => return Err(format!("{v} is not an integer")),
        };
        out.extend_from_slice(&n.to_le_bytes()[..width]);
        Ok(())
    };
    match t {
        TINY => int(1, out),
        SHORT | YEAR => int(2, out),
        LONG | INT24 => int(4, out),
        LONGLONG => int(8, out),
        FLOAT => {
            let f = v.as_f64().ok_or_else(|| format!("{v} is not a number"))?;
            out.extend_from_slice(&(f as f32).to_le_bytes());
            Ok(())
        }
        DOUBLE => {
            let f = v.as_f64().ok_or_else(|| format!("{v} is not a number"))?;
            out.extend_from_slice(&f.to_le_bytes());
            Ok(())
        }
        NULL => Ok(()),
        DATE | DATETIME | TIMESTAMP | NEWDATE => {
            let s = v.as_str().ok_or_else(|| format!("{v} is not a date"))?;
            let b = datetime_bytes(s)
                .ok_or_else(|| format!("'{s}' is not YYYY-MM-DD[ hh:mm:ss[.ffffff]]"))?;
            out.push(b.len() as u8);
            out.extend_from_slice(&b);
            Ok(())
        }
        TIME => {
            let s = v.as_str().ok_or_else(|| format!("{v} is not a time"))?;
            let b = time_bytes(s).ok_or_else(|| format!("'{s}' is not [-]hh:mm:ss[.ffffff]"))?;
            out.push(b.len() as u8);
            out.extend_from_slice(&b);
            Ok(())
        }
        _ => {
            let b = bytes_of(v).ok_or_else(|| format!("{v} is no value"))?;
            put_lenenc_bytes(&b, out);
            Ok(())
        }
    }
}

/// Splits `hh:mm:ss[.ffffff]` into its numbers.
fn clock(s: &str) -> Option<(u64, u8, u8, u32)> {
    let (hms, frac) = match s.split_once('.') {
        Some((a, f)) if f.len() == 6 => (a, f.parse().ok()?),
        Some(_) => return None,
        None => (s, 0),
    };
    let mut parts = hms.split(':');
    let h = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let sec = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((h, m, sec, frac))
}

/// A date or date-time's 0, 4, 7 or 11 bytes, the shortest that hold it.
fn datetime_bytes(s: &str) -> Option<Vec<u8>> {
    let (date, time) = match s.split_once(' ') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut d = date.split('-');
    let y: u16 = d.next()?.parse().ok()?;
    let mo: u8 = d.next()?.parse().ok()?;
    let day: u8 = d.next()?.parse().ok()?;
    if d.next().is_some() {
        return None;
    }
    let (h, mi, sec, micro) = match time {
        Some(t) => clock(t)?,
        None => (0, 0, 0, 0),
    };
    let h = u8::try_from(h).ok()?;
    let mut b = Vec::with_capacity(11);
    if (y, mo, day, h, mi, sec, micro) == (0, 0, 0, 0, 0, 0, 0) {
        return Some(b);
    }
    b.extend_from_slice(&y.to_le_bytes());
    b.extend_from_slice(&[mo, day]);
    if (h, mi, sec, micro) != (0, 0, 0, 0) {
        b.extend_from_slice(&[h, mi, sec]);
    }
    if micro != 0 {
        b.extend_from_slice(&micro.to_le_bytes());
    }
    Some(b)
}

/// A TIME's 0, 8 or 12 bytes, the shortest that hold it.
fn time_bytes(s: &str) -> Option<Vec<u8>> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (h, m, sec, micro) = clock(rest)?;
    let mut b = Vec::with_capacity(12);
    if (h, m, sec, micro) == (0, 0, 0, 0) {
        return Some(b);
    }
    let days = u32::try_from(h / 24).ok()?;
    b.push(u8::from(negative));
    b.extend_from_slice(&days.to_le_bytes());
    b.extend_from_slice(&[(h % 24) as u8, m, sec]);
    if micro != 0 {
        b.extend_from_slice(&micro.to_le_bytes());
    }
    Some(b)
}

fn field_u64(m: &Map<String, Value>, k: &str) -> u64 {
    m.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// An OK payload from its stored form, with `header` 0x00 (or 0xFE where it
/// ends rows under `DEPRECATE_EOF`).
pub fn encode_ok(ok: &Map<String, Value>, header: u8, out: &mut Vec<u8>) {
    out.push(header);
    put_lenenc(field_u64(ok, "affected_rows"), out);
    put_lenenc(field_u64(ok, "last_insert_id"), out);
    out.extend_from_slice(&(field_u64(ok, "status") as u16).to_le_bytes());
    out.extend_from_slice(&(field_u64(ok, "warnings") as u16).to_le_bytes());
    if let Some(info) = ok.get("info").and_then(bytes_of) {
        out.extend_from_slice(&info);
    }
}

/// An ERR payload from its stored form.
pub fn encode_err(e: &Map<String, Value>, out: &mut Vec<u8>) {
    out.push(0xFF);
    out.extend_from_slice(&(field_u64(e, "code") as u16).to_le_bytes());
    if let Some(state) = e.get("state").and_then(bytes_of) {
        out.push(b'#');
        out.extend_from_slice(&state);
    }
    out.extend_from_slice(&e.get("message").and_then(bytes_of).unwrap_or_default());
}

fn encode_eof(status: u16, warnings: u16, enc: Encoding, out: &mut Vec<u8>) {
    if enc.deprecate_eof() {
        let mut ok = Map::new();
        ok.insert("status".into(), status.into());
        ok.insert("warnings".into(), warnings.into());
        encode_ok(&ok, 0xFE, out);
    } else {
        out.push(0xFE);
        out.extend_from_slice(&warnings.to_le_bytes());
        out.extend_from_slice(&status.to_le_bytes());
    }
}

fn columns_of(v: &Value) -> Result<Vec<Column>, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("columns: {e}"))
}

fn emit(out: &mut Vec<Vec<u8>>, f: impl FnOnce(&mut Vec<u8>)) {
    let mut p = Vec::new();
    f(&mut p);
    out.push(p);
}

/// How an answer's rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// `COM_QUERY`'s: column count, definitions, text rows.
    Text,
    /// `COM_STMT_EXECUTE`'s: column count, definitions, binary rows.
    Binary,
    /// `COM_STMT_FETCH`'s: binary rows of a cursor opened before.
    Fetch,
    /// `COM_FIELD_LIST`'s: column definitions, then an EOF.
    FieldList,
}

/// The payloads of a stored answer, in order: results (OKs and result
/// sets), an error, a prepare's OK with `stmt` as its statement id, an EOF,
/// or a payload kept as it came. `binary` for an execute's or fetch's rows.
pub fn encode_answer(
    answer: &Map<String, Value>,
    rows_as: Rows,
    stmt: Option<u32>,
    enc: Encoding,
) -> Result<Vec<Vec<u8>>, String> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    if let Some(results) = answer.get("results").and_then(Value::as_array) {
        for r in results {
            let Some(set) = r.as_object() else {
                return Err(format!("a result that is no object: {r}"));
            };
            if let Some(ok) = set.get("ok").and_then(Value::as_object) {
                emit(&mut out, |p| encode_ok(ok, 0, p));
                continue;
            }
            let columns = columns_of(set.get("columns").unwrap_or(&Value::Null))?;
            let end_status = field_u64(set, "status") as u16;
            let end_warnings = field_u64(set, "warnings") as u16;
            let cursor = set.get("cursor").is_some();
            if rows_as == Rows::FieldList {
                for c in &columns {
                    emit(&mut out, |p| encode_column(c, enc, p));
                }
                emit(&mut out, |p| encode_eof(end_status, end_warnings, enc, p));
                continue;
            }
            if rows_as != Rows::Fetch {
                emit(&mut out, |p| put_lenenc(columns.len() as u64, p));
                for c in &columns {
                    emit(&mut out, |p| encode_column(c, enc, p));
                }
                if cursor {
                    // An execute that opened a cursor: its rows come by fetch.
                    let mut p = Vec::new();
                    encode_eof(end_status, end_warnings, enc, &mut p);
                    out.push(p);
                    continue;
                }
                if !enc.deprecate_eof() {
                    let (status, warnings) = match set.get("columns_eof").and_then(Value::as_object)
                    {
                        Some(e) => (
                            field_u64(e, "status") as u16,
                            field_u64(e, "warnings") as u16,
                        ),
                        None => (end_status, end_warnings),
                    };
                    emit(&mut out, |p| {
                        p.push(0xFE);
                        p.extend_from_slice(&warnings.to_le_bytes());
                        p.extend_from_slice(&status.to_le_bytes());
                    });
                }
            }
            let rows = set
                .get("rows")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (i, row) in rows.iter().enumerate() {
                let row = row
                    .as_array()
                    .ok_or_else(|| format!("row {}: not an array", i + 1))?;
                let mut p = Vec::new();
                match rows_as {
                    Rows::Binary | Rows::Fetch => encode_binary_row(row, &columns, &mut p),
                    Rows::Text | Rows::FieldList => encode_text_row(row, &mut p),
                }
                .map_err(|e| format!("row {}: {e}", i + 1))?;
                out.push(p);
            }
            if set.get("unfinished").is_none() {
                let mut p = Vec::new();
                encode_eof(end_status, end_warnings, enc, &mut p);
                out.push(p);
            }
        }
    }
    if let Some(p) = answer.get("prepared").and_then(Value::as_object) {
        let params = columns_of(p.get("params").unwrap_or(&Value::Null))?;
        let columns = columns_of(p.get("columns").unwrap_or(&Value::Null))?;
        let id = stmt.unwrap_or(field_u64(p, "stmt") as u32);
        let mut head = vec![0];
        head.extend_from_slice(&id.to_le_bytes());
        head.extend_from_slice(&(columns.len() as u16).to_le_bytes());
        head.extend_from_slice(&(params.len() as u16).to_le_bytes());
        head.push(0);
        head.extend_from_slice(&(field_u64(p, "warnings") as u16).to_le_bytes());
        out.push(head);
        let status = field_u64(p, "eof_status") as u16;
        for defs in [&params, &columns] {
            for c in defs {
                let mut b = Vec::new();
                encode_column(c, enc, &mut b);
                out.push(b);
            }
            if !defs.is_empty() && !enc.deprecate_eof() {
                let mut b = Vec::new();
                encode_eof(status, 0, enc, &mut b);
                out.push(b);
            }
        }
    }
    if let Some(e) = answer.get("error").and_then(Value::as_object) {
        let mut p = Vec::new();
        encode_err(e, &mut p);
        out.push(p);
    }
    if let Some(ok) = answer.get("ok").and_then(Value::as_object) {
        let mut p = Vec::new();
        encode_ok(ok, 0, &mut p);
        out.push(p);
    }
    if let Some(e) = answer.get("eof").and_then(Value::as_object) {
        let mut p = Vec::new();
        encode_eof(
            field_u64(e, "status") as u16,
            field_u64(e, "warnings") as u16,
            enc,
            &mut p,
        );
        out.push(p);
    }
    if let Some(payload) = answer.get("payload").and_then(bytes_of) {
        out.push(payload);
    }
    Ok(out)
}
