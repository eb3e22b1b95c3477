//! What result sets and prepared statements carry: column definitions,
//! rows in the text protocol (`COM_QUERY`) and in the binary one
//! (`COM_STMT_EXECUTE`, `COM_STMT_FETCH`), and an execute's parameters.
//!
//! Values read as JSON a reviewer can follow: integers and floats as
//! numbers, text as strings (`{"base64": ...}` where it is not UTF-8),
//! dates and times as MySQL writes them (`2024-01-02 03:04:05.000006`),
//! NULL as `null`. Text-protocol values stay strings, as sent: `1.50` must
//! not come back as `1.5`.

use serde::Deserialize as _;
use serde_json::Value;

use super::read::{Nth, Reader, What};
use crate::wire::Bytes;

/// Column types (`MYSQL_TYPE_*`).
pub mod types {
    pub const DECIMAL: u8 = 0;
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const NULL: u8 = 6;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const NEWDATE: u8 = 14;
    pub const VARCHAR: u8 = 15;
    pub const BIT: u8 = 16;
    pub const JSON: u8 = 245;
    pub const NEWDECIMAL: u8 = 246;
    pub const ENUM: u8 = 247;
    pub const SET: u8 = 248;
    pub const TINY_BLOB: u8 = 249;
    pub const MEDIUM_BLOB: u8 = 250;
    pub const LONG_BLOB: u8 = 251;
    pub const BLOB: u8 = 252;
    pub const VAR_STRING: u8 = 253;
    pub const STRING: u8 = 254;
    pub const GEOMETRY: u8 = 255;
}

/// `UNSIGNED_FLAG` in a column's flags.
pub const UNSIGNED: u16 = 0x20;

/// The name of column type `t`, as `MYSQL_TYPE_*` without its prefix.
pub fn type_name(t: u8) -> &'static str {
    use types::*;
    match t {
        DECIMAL => "DECIMAL",
        TINY => "TINY",
        SHORT => "SHORT",
        LONG => "LONG",
        FLOAT => "FLOAT",
        DOUBLE => "DOUBLE",
        NULL => "NULL",
        TIMESTAMP => "TIMESTAMP",
        LONGLONG => "LONGLONG",
        INT24 => "INT24",
        DATE => "DATE",
        TIME => "TIME",
        DATETIME => "DATETIME",
        YEAR => "YEAR",
        NEWDATE => "NEWDATE",
        VARCHAR => "VARCHAR",
        BIT => "BIT",
        JSON => "JSON",
        NEWDECIMAL => "NEWDECIMAL",
        ENUM => "ENUM",
        SET => "SET",
        TINY_BLOB => "TINY_BLOB",
        MEDIUM_BLOB => "MEDIUM_BLOB",
        LONG_BLOB => "LONG_BLOB",
        BLOB => "BLOB",
        VAR_STRING => "VAR_STRING",
        STRING => "STRING",
        GEOMETRY => "GEOMETRY",
        _ => "UNKNOWN",
    }
}

/// A column definition (`ColumnDefinition41`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub schema: Bytes,
    pub table: Bytes,
    pub org_table: Bytes,
    pub name: Bytes,
    pub org_name: Bytes,
    pub charset: u16,
    pub length: u32,
    #[serde(
        rename = "type",
        serialize_with = "ser_type",
        deserialize_with = "de_type"
    )]
    pub column_type: u8,
    pub flags: u16,
    pub decimals: u8,
    /// MariaDB's extended type information (`EXTENDED_TYPE_INFO`): the
    /// format of a JSON or UUID column that reads as another type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended: Option<Bytes>,
}

fn ser_type<S: serde::Serializer>(t: &u8, s: S) -> Result<S::Ok, S::Error> {
    match type_name(*t) {
        "UNKNOWN" => s.serialize_u8(*t),
        name => s.serialize_str(name),
    }
}

fn de_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        Value::String(name) => (0..=255u8)
            .find(|&t| type_name(t) == name && name != "UNKNOWN")
            .ok_or_else(|| D::Error::custom(format!("'{name}' is no column type"))),
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| D::Error::custom(format!("{n} is no column type"))),
        other => Err(D::Error::custom(format!("{other} is no column type"))),
    }
}

/// A column definition's fields as they lie in its payload.
struct ColumnRef<'a> {
    schema: &'a [u8],
    table: &'a [u8],
    org_table: &'a [u8],
    name: &'a [u8],
    org_name: &'a [u8],
    charset: u16,
    length: u32,
    column_type: u8,
    flags: u16,
    decimals: u8,
    extended: Option<&'a [u8]>,
}

impl<'a> ColumnRef<'a> {
    fn read(p: &'a [u8], extended_types: bool) -> Result<Self, String> {
        let mut r = Reader { p, at: 0 };
        let catalog = lenenc_bytes(&mut r, "the catalog")?;
        if catalog != b"def" {
            return Err(format!(
                "a column definition whose catalog is {:?}, not \"def\"",
                String::from_utf8_lossy(catalog)
            ));
        }
        let schema = lenenc_bytes(&mut r, "the schema")?;
        let table = lenenc_bytes(&mut r, "the table")?;
        let org_table = lenenc_bytes(&mut r, "the original table")?;
        let name = lenenc_bytes(&mut r, "the column name")?;
        let org_name = lenenc_bytes(&mut r, "the original column name")?;
        let extended = match extended_types {
            true => {
                let b = lenenc_bytes(&mut r, "the extended type information")?;
                (!b.is_empty()).then_some(b)
            }
            false => None,
        };
        let fixed = r.lenenc("the fixed fields' length")?;
        let start = r.at;
        let charset = u16::from_le_bytes(r.array("the character set")?);
        let length = u32::from_le_bytes(r.array("the column length")?);
        let column_type = r.u8("the column type")?;
        let flags = u16::from_le_bytes(r.array("the column flags")?);
        let decimals = r.u8("the decimals")?;
        // Two filler bytes close the fixed fields; what a server adds past
        // them (a default value, for COM_FIELD_LIST) is not read.
        let fixed = usize::try_from(fixed).unwrap_or(usize::MAX);
        r.take(fixed.saturating_sub(r.at - start), "the fixed fields' end")?;
        Ok(ColumnRef {
            schema,
            table,
            org_table,
            name,
            org_name,
            charset,
            length,
            column_type,
            flags,
            decimals,
            extended,
        })
    }
}

impl Column {
    /// Reads a column definition payload, on a connection where MariaDB's
    /// extended type information was taken up or not; why not, as text.
    pub fn parse(p: &[u8], extended_types: bool) -> Result<Column, String> {
        let c = ColumnRef::read(p, extended_types)?;
        Ok(Column {
            schema: c.schema.into(),
            table: c.table.into(),
            org_table: c.org_table.into(),
            name: c.name.into(),
            org_name: c.org_name.into(),
            charset: c.charset,
            length: c.length,
            column_type: c.column_type,
            flags: c.flags,
            decimals: c.decimals,
            extended: c.extended.map(Bytes::from),
        })
    }

    /// Checks a column definition payload as [`Column::parse`] reads it,
    /// without keeping anything.
    pub fn check(p: &[u8], extended_types: bool) -> Result<(), String> {
        ColumnRef::read(p, extended_types).map(drop)
    }

    pub(super) fn unsigned(&self) -> bool {
        self.flags & UNSIGNED != 0
    }
}

fn lenenc_bytes<'a>(r: &mut Reader<'a>, what: impl What) -> Result<&'a [u8], String> {
    let n = r.lenenc(what)?;
    r.take(usize::try_from(n).unwrap_or(usize::MAX), what)
}

/// Text as a JSON string, or `{"base64": ...}` where it is not UTF-8.
pub(super) fn text(b: &[u8]) -> Value {
    // Most values are printable: copied once, not into a `Bytes` first.
    match crate::wire::bytes::printable(b) {
        Some(text) => Value::String(text.to_owned()),
        None => serde_json::to_value(Bytes::from(b)).expect("bytes serialise"),
    }
}

/// Hands `each` a text-protocol row's values in turn (`None` for NULL;
/// each a string as sent, see [`text`]), checking that the row holds
/// `columns` of them and nothing more.
pub fn text_cells<'a>(
    p: &'a [u8],
    columns: usize,
    mut each: impl FnMut(Option<&'a [u8]>),
) -> Result<(), String> {
    let mut r = Reader { p, at: 0 };
    for i in 0..columns {
        if r.p.get(r.at) == Some(&0xFB) {
            r.at += 1;
            each(None);
            continue;
        }
        let what = Nth {
            kind: "column",
            n: i + 1,
            name: None,
        };
        each(Some(lenenc_bytes(&mut r, what)?));
    }
    if r.at != p.len() {
        return Err(format!(
            "{} bytes after a row's {columns} columns",
            p.len() - r.at
        ));
    }
    Ok(())
}

/// Hands `each` a binary-protocol row's values in turn (`0x00`, a NULL
/// bitmap offset by two bits, then each value that is not NULL in its
/// column's type): its column and `None` for NULL, else the value's bytes
/// as [`binary_bytes`] takes them. Checks that the row holds a value of
/// each column's type and nothing more.
pub fn binary_cells<'a, 'c>(
    p: &'a [u8],
    columns: &'c [Column],
    mut each: impl FnMut(&'c Column, Option<&'a [u8]>),
) -> Result<(), String> {
    let mut r = Reader { p, at: 0 };
    let header = r.u8("the row's header")?;
    if header != 0 {
        return Err(format!("a binary row that begins 0x{header:02x}, not 0x00"));
    }
    let bitmap = r.take((columns.len() + 7 + 2) / 8, "the row's NULL bitmap")?;
    for (i, c) in columns.iter().enumerate() {
        let bit = i + 2;
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
            each(c, None);
            continue;
        }
        let what = Nth {
            kind: "column",
            n: i + 1,
            name: Some(&c.name),
        };
        each(c, Some(binary_bytes(&mut r, c.column_type, what)?));
    }
    if r.at != p.len() {
        return Err(format!(
            "{} bytes after a row's {} columns",
            p.len() - r.at,
            columns.len()
        ));
    }
    Ok(())
}

/// One value of type `t` in the binary protocol.
pub(super) fn binary_value(
    r: &mut Reader<'_>,
    t: u8,
    unsigned: bool,
    what: impl What,
) -> Result<Value, String> {
    Ok(binary_from(t, unsigned, binary_bytes(r, t, what)?))
}

/// The bytes of one value of type `t` in the binary protocol, checked: a
/// number's, a date's or time's after its length (one the type has), a
/// string's after its length.
fn binary_bytes<'a>(r: &mut Reader<'a>, t: u8, what: impl What) -> Result<&'a [u8], String> {
    use types::*;
    Ok(match t {
        TINY => r.take(1, what)?,
        SHORT | YEAR => r.take(2, what)?,
        LONG | INT24 | FLOAT => r.take(4, what)?,
        LONGLONG | DOUBLE => r.take(8, what)?,
        NULL => &[],
        DATE | DATETIME | TIMESTAMP | NEWDATE => {
            let n = r.u8(what)?;
            let b = r.take(usize::from(n), what)?;
            if !matches!(n, 0 | 4 | 7 | 11) {
                let name = type_name(t);
                return Err(format!("{what}: a {name} of {n} bytes, not 0, 4, 7 or 11"));
            }
            b
        }
        TIME => {
            let n = r.u8(what)?;
            let b = r.take(usize::from(n), what)?;
            if !matches!(n, 0 | 8 | 12) {
                return Err(format!("{what}: a TIME of {n} bytes, not 0, 8 or 12"));
            }
            b
        }
        _ => lenenc_bytes(r, what)?,
    })
}

/// The value of `b`, a value of type `t` as [`binary_bytes`] took it.
pub(super) fn binary_from(t: u8, unsigned: bool, b: &[u8]) -> Value {
    use types::*;
    let int = |bytes: &[u8]| -> Value {
        let mut le = [0u8; 8];
        le[..bytes.len()].copy_from_slice(bytes);
        if unsigned {
            Value::from(u64::from_le_bytes(le))
        } else {
            // Sign-extend from the value's width.
            let shift = 64 - 8 * bytes.len() as u32;
            Value::from((i64::from_le_bytes(le) << shift) >> shift)
        }
    };
    const WIDTH: &str = "the width binary_bytes took";
    match t {
        TINY | SHORT | YEAR | LONG | INT24 | LONGLONG => int(b),
        FLOAT => Value::from(f64::from(f32::from_le_bytes(b.try_into().expect(WIDTH)))),
        DOUBLE => Value::from(f64::from_le_bytes(b.try_into().expect(WIDTH))),
        NULL => Value::Null,
        // Their lengths were checked: the conversions cannot fail.
        DATE | DATETIME | TIMESTAMP | NEWDATE => datetime(t, b).map_or(Value::Null, Value::from),
        TIME => time(b).map_or(Value::Null, Value::from),
        _ => text(b),
    }
}

/// `YYYY-MM-DD` for a DATE, `YYYY-MM-DD hh:mm:ss[.ffffff]` for the others,
/// from the 0, 4, 7 or 11 bytes sent.
fn datetime(t: u8, b: &[u8]) -> Option<String> {
    let (y, mo, d) = match b.len() {
        0 => (0, 0, 0),
        4 | 7 | 11 => (u16::from_le_bytes([b[0], b[1]]), b[2], b[3]),
        _ => return None,
    };
    let date = format!("{y:04}-{mo:02}-{d:02}");
    if t == types::DATE {
        return Some(date);
    }
    let (h, mi, s) = match b.len() >= 7 {
        true => (b[4], b[5], b[6]),
        false => (0, 0, 0),
    };
    let mut out = format!("{date} {h:02}:{mi:02}:{s:02}");
    if b.len() == 11 {
        let micros = u32::from_le_bytes(b[7..11].try_into().expect("4 bytes"));
        out.push_str(&format!(".{micros:06}"));
    }
    Some(out)
}

/// `[-]hhh:mm:ss[.ffffff]` from the 0, 8 or 12 bytes of a TIME.
fn time(b: &[u8]) -> Option<String> {
    match b.len() {
        0 => return Some("00:00:00".to_owned()),
        8 | 12 => {}
        _ => return None,
    }
    let sign = if b[0] == 1 { "-" } else { "" };
    let days = u32::from_le_bytes(b[1..5].try_into().expect("4 bytes"));
    let hours = u64::from(days) * 24 + u64::from(b[5]);
    let mut out = format!("{sign}{hours:02}:{:02}:{:02}", b[6], b[7]);
    if b.len() == 12 {
        let micros = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        out.push_str(&format!(".{micros:06}"));
    }
    Some(out)
}

/// A parameter's type as an execute binds it: the column type and whether
/// it is unsigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamType {
    pub column_type: u8,
    pub unsigned: bool,
}

/// An execute's parameters, read with the statement's parameter count
/// (from its prepare), the types the last execute bound (a client binds
/// them once and then sends `new_params_bound = 0`), and which parameters
/// came by `COM_STMT_SEND_LONG_DATA` (no value here: `None` in their
/// place). The values, and the types now bound.
pub fn execute_params(
    p: &[u8],
    count: usize,
    bound: &[ParamType],
    long_data: &[u16],
) -> Result<(Vec<Option<Value>>, Vec<ParamType>), String> {
    if count == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut r = Reader { p, at: 0 };
    let bitmap = r.take(count.div_ceil(8), "the parameters' NULL bitmap")?;
    let new_bound = r.u8("the new-parameters-bound flag")?;
    let types = if new_bound == 1 {
        let mut types = Vec::with_capacity(count);
        for i in 0..count {
            let what = format_args!("parameter {}'s type", i + 1);
            let [t, flag] = r.array(what)?;
            types.push(ParamType {
                column_type: t,
                unsigned: flag & 0x80 != 0,
            });
        }
        types
    } else if bound.len() == count {
        bound.to_vec()
    } else {
        return Err(format!(
            "an execute of {count} parameters that binds no types, with none bound before"
        ));
    };
    let mut values = Vec::with_capacity(count);
    for (i, t) in types.iter().enumerate() {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            values.push(Some(Value::Null));
        } else if long_data.contains(&(i as u16)) {
            values.push(None);
        } else {
            let what = Nth {
                kind: "parameter",
                n: i + 1,
                name: None,
            };
            values.push(Some(binary_value(&mut r, t.column_type, t.unsigned, what)?));
        }
    }
    if r.at != p.len() {
        return Err(format!(
            "{} bytes after the execute's {count} parameters",
            p.len() - r.at
        ));
    }
    Ok((values, types))
}
