//! Reading a payload field by field.

use std::fmt::Display;

/// What a field is, for an error: written out only when one is made, so
/// that naming each value of a row costs nothing while it reads well.
pub(super) trait What: Display + Copy {}

impl<T: Display + Copy> What for T {}

/// `{kind} {n}`, and the name after it in brackets if there is one: a
/// row's column or an execute's parameter, counted from 1.
#[derive(Clone, Copy)]
pub(super) struct Nth<'a> {
    pub kind: &'static str,
    pub n: usize,
    pub name: Option<&'a [u8]>,
}

impl Display for Nth<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.n)?;
        match self.name {
            Some(name) => write!(f, " ({})", String::from_utf8_lossy(name)),
            None => Ok(()),
        }
    }
}

/// Reads a payload front to back, naming what it lacks.
pub(super) struct Reader<'a> {
    pub p: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize, what: impl What) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.p.len());
        let Some(end) = end else {
            return Err(format!("the payload ends before {what}"));
        };
        let s = &self.p[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub fn u8(&mut self, what: impl What) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    pub fn array<const N: usize>(&mut self, what: impl What) -> Result<[u8; N], String> {
        let s = self.take(N, what)?;
        Ok(s.try_into().expect("N bytes"))
    }

    /// A length-encoded integer: one byte below 251, else 0xfc, 0xfd or
    /// 0xfe and 2, 3 or 8 bytes.
    pub fn lenenc(&mut self, what: impl What) -> Result<u64, String> {
        let first = self.u8(what)?;
        let width = match first {
            0..=0xfa => return Ok(u64::from(first)),
            0xfc => 2,
            0xfd => 3,
            0xfe => 8,
            _ => {
                return Err(format!(
                    "{what} begins with 0x{first:02x}, which starts no length"
                ))
            }
        };
        let mut le = [0u8; 8];
        le[..width].copy_from_slice(self.take(width, what)?);
        Ok(u64::from_le_bytes(le))
    }

    pub fn nul(&mut self, what: impl What) -> Result<&'a [u8], String> {
        let rest = &self.p[self.at..];
        let Some(i) = rest.iter().position(|&b| b == 0) else {
            return Err(format!("{what} has no terminating NUL"));
        };
        self.at += i + 1;
        Ok(&rest[..i])
    }
}
