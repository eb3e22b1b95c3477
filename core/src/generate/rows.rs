//! The summary's lists. They grow with the session (a row per call
//! attributed, per value matched, per reference made), so for `reel
//! generate` only the first rows stay in memory, what the terminal shows;
//! the rest go to a temporary file, read back once when `generate.txt` is
//! written. A suite made in memory (tests, the demo) keeps every row.

use std::io::{BufRead, BufWriter, Seek, Write};

use serde::{Deserialize, Serialize};

use super::postgres::ParamMatcher;

/// A row that can be written to a file as a line and read back.
pub trait Row: Sized {
    fn to_line(&self) -> String;
    fn from_line(line: &str) -> Option<Self>;
}

macro_rules! serde_row {
    ($($t:ty),*) => {$(
        impl Row for $t {
            fn to_line(&self) -> String {
                serde_json::to_string(self).expect("rows serialize")
            }
            fn from_line(line: &str) -> Option<Self> {
                serde_json::from_str(line).ok()
            }
        }
    )*};
}

serde_row!(
    (i64, String),
    (i64, String, String),
    (i64, String, Vec<String>),
    (String, String, String),
    (String, String, Vec<String>)
);

/// A kind of matcher by its name, as the `&'static str` the generator uses.
fn kind(name: &str) -> Option<&'static str> {
    crate::matcher::KINDS
        .iter()
        .copied()
        .chain(crate::matcher::formats::KINDS.iter().map(|(k, _)| *k))
        .find(|k| *k == name)
}

impl Row for (String, String, &'static str) {
    fn to_line(&self) -> String {
        serde_json::to_string(self).expect("rows serialize")
    }
    fn from_line(line: &str) -> Option<Self> {
        let (a, b, k): (String, String, String) = serde_json::from_str(line).ok()?;
        Some((a, b, kind(&k)?))
    }
}

#[derive(Serialize, Deserialize)]
struct ParamLine {
    mock: String,
    param: String,
    kind: String,
    why: String,
}

impl Row for ParamMatcher {
    fn to_line(&self) -> String {
        serde_json::to_string(&ParamLine {
            mock: self.mock.clone(),
            param: self.param.clone(),
            kind: self.kind.to_owned(),
            why: self.why.clone(),
        })
        .expect("rows serialize")
    }
    fn from_line(line: &str) -> Option<Self> {
        let p: ParamLine = serde_json::from_str(line).ok()?;
        Some(ParamMatcher {
            mock: p.mock,
            param: p.param,
            kind: kind(&p.kind)?,
            why: p.why,
        })
    }
}

/// One of the summary's lists: its first rows in memory, the others (past
/// [`Rows::spill_after`]) in a temporary file.
pub struct Rows<T> {
    head: Vec<T>,
    total: usize,
    keep: Option<usize>,
    spill: Option<BufWriter<std::fs::File>>,
    /// The file was read since the last row was written: reading moves the
    /// offset it shares with the writer.
    read: bool,
}

impl<T> Default for Rows<T> {
    fn default() -> Self {
        Rows {
            head: Vec::new(),
            total: 0,
            keep: None,
            spill: None,
            read: false,
        }
    }
}

impl<T: Row + Clone> Rows<T> {
    /// Keeps only the first `keep` rows in memory from now on.
    pub fn spill_after(&mut self, keep: usize) {
        self.keep = Some(keep);
    }

    pub fn push(&mut self, row: T) {
        self.total += 1;
        if self.keep.is_none_or(|k| self.head.len() < k) {
            self.head.push(row);
            return;
        }
        if self.spill.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.spill = Some(BufWriter::new(f)),
                // No temporary file: the rows stay in memory.
                Err(e) => {
                    tracing::warn!("no temporary file for the summary's rows: {e}");
                    self.keep = None;
                    self.head.push(row);
                    return;
                }
            }
        }
        let spill = self.spill.as_mut().expect("made above");
        if std::mem::take(&mut self.read) {
            let _ = spill.seek(std::io::SeekFrom::End(0));
        }
        // A summary row that cannot be written is lost from generate.txt
        // only: the count stays right.
        let _ = writeln!(spill, "{}", row.to_line());
    }

    /// How many rows there are in all.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The rows kept in memory: every row unless the list spilled.
    pub fn head(&self) -> &[T] {
        &self.head
    }

    /// Every row, in order: those in memory, then those read back.
    pub fn all(&mut self) -> impl Iterator<Item = T> + '_ {
        self.read = self.spill.is_some();
        let rest = self.spill.as_mut().and_then(|w| {
            w.flush().ok()?;
            let mut f = w.get_ref().try_clone().ok()?;
            f.rewind().ok()?;
            Some(std::io::BufReader::new(f).lines())
        });
        let rest = rest
            .into_iter()
            .flatten()
            .filter_map(|l| l.ok().and_then(|l| T::from_line(&l)));
        self.head.iter().cloned().chain(rest)
    }

    /// Changes every row, those in the file too.
    pub fn update(&mut self, mut change: impl FnMut(&mut T)) {
        let mut again = Rows {
            keep: self.keep,
            ..Rows::default()
        };
        for mut row in self.all() {
            change(&mut row);
            again.push(row);
        }
        *self = again;
    }

    /// Keeps the rows `keep` says to keep, those in the file too.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        if self.spill.is_none() {
            self.head.retain(&mut keep);
            self.total = self.head.len();
            return;
        }
        let mut again = Rows {
            keep: self.keep,
            ..Rows::default()
        };
        for row in self.all() {
            if keep(&row) {
                again.push(row);
            }
        }
        *self = again;
    }
}

impl<T: Row + Clone> Extend<T> for Rows<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, rows: I) {
        rows.into_iter().for_each(|r| self.push(r));
    }
}

impl<T: Row + Clone> FromIterator<T> for Rows<T> {
    fn from_iter<I: IntoIterator<Item = T>>(rows: I) -> Self {
        let mut out = Rows::default();
        out.extend(rows);
        out
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Rows<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.head).finish()?;
        if self.total > self.head.len() {
            write!(f, " and {} more", self.total - self.head.len())?;
        }
        Ok(())
    }
}

/// The rows in memory: all of them, unless the list spilled (see
/// [`Rows::all`]).
impl<T> std::ops::Deref for Rows<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.head
    }
}

impl<T: PartialEq, const N: usize> PartialEq<[T; N]> for Rows<T> {
    fn eq(&self, other: &[T; N]) -> bool {
        self.total == self.head.len() && self.head == other[..]
    }
}

impl<T: PartialEq> PartialEq<Vec<T>> for Rows<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.total == self.head.len() && self.head == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the rows kept, rows go to the file and come back in order, with
    /// their kinds; retain filters both.
    #[test]
    fn rows_past_the_head_are_kept_in_a_file_and_read_back_in_order() {
        let mut rows: Rows<(String, String, &'static str)> = Rows::default();
        rows.spill_after(2);
        for i in 0..5 {
            rows.push((format!("{i:04}-x"), "$.id".into(), "uuid"));
        }
        assert_eq!((rows.len(), rows.head().len()), (5, 2));
        let all: Vec<_> = rows.all().collect();
        assert_eq!(all.len(), 5);
        assert_eq!(all[4], ("0004-x".to_owned(), "$.id".to_owned(), "uuid"));
        rows.retain(|r| r.0 != "0000-x" && r.0 != "0003-x");
        let names: Vec<String> = rows.all().map(|r| r.0).collect();
        assert_eq!(names, ["0001-x", "0002-x", "0004-x"]);
        assert_eq!(rows.len(), 3);
        // Read in part, then written to again: nothing is overwritten.
        assert_eq!(rows.all().next().unwrap().0, "0001-x");
        rows.push(("0005-x".into(), "$.id".into(), "uuid"));
        let names: Vec<String> = rows.all().map(|r| r.0).collect();
        assert_eq!(names, ["0001-x", "0002-x", "0004-x", "0005-x"]);
        rows.retain(|r| r.0 != "0005-x");
        rows.update(|r| r.2 = "token");
        assert!(rows.all().all(|r| r.2 == "token"));
        assert_eq!((rows.len(), rows.head().len()), (3, 2));
    }
}
