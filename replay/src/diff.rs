//! Unified diffs of pretty-printed expected vs actual, plain or coloured.

use similar::TextDiff;

/// A unified diff with three lines of context, headed `expected` / `actual`.
/// Empty when the texts are equal.
pub fn unified(expected: &str, actual: &str) -> String {
    if expected == actual {
        return String::new();
    }
    TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .missing_newline_hint(false)
        .to_string()
}

/// Colours a unified diff for a terminal: removals red, additions green, hunks cyan.
pub fn colourize(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + 64);
    for line in diff.lines() {
        let colour = colour(line);
        if colour.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(colour);
            out.push_str(line);
            out.push_str("\x1b[0m");
        }
        out.push('\n');
    }
    out
}

/// What a line of a unified diff is, by its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `--- expected` / `+++ actual`.
    Header,
    /// `@@ -1,3 +1,3 @@`.
    Hunk,
    Added,
    Removed,
    Context,
}

impl LineKind {
    pub fn of(line: &str) -> Self {
        if line.starts_with("---") || line.starts_with("+++") {
            Self::Header
        } else if line.starts_with("@@") {
            Self::Hunk
        } else if line.starts_with('+') {
            Self::Added
        } else if line.starts_with('-') {
            Self::Removed
        } else {
            Self::Context
        }
    }
}

/// The terminal colour of a unified diff's line: headers bold, removals red,
/// additions green, hunks cyan; context none.
fn colour(line: &str) -> &'static str {
    match LineKind::of(line) {
        LineKind::Header => "\x1b[1m",
        LineKind::Removed => "\x1b[31m",
        LineKind::Added => "\x1b[32m",
        LineKind::Hunk => "\x1b[36m",
        LineKind::Context => "",
    }
}

/// One line of a unified diff split into words, each marked when it changed
/// against the line it replaces: for highlighting the changed words of a
/// `-` line and the `+` line after it (a changed SQL clause, a parameter).
pub type Marked = Vec<(bool, String)>;

/// Each line of `diff` with its changed words marked. A run of `-` lines
/// directly followed by as many `+` lines pairs them in order; other lines
/// are one unmarked piece.
pub fn mark_words(diff: &str) -> Vec<(String, Marked)> {
    let lines: Vec<&str> = diff.lines().collect();
    let mut out: Vec<(String, Marked)> = Vec::with_capacity(lines.len());
    let plain = |l: &str| (l.to_owned(), vec![(false, l.to_owned())]);
    let removed = |l: &str| l.starts_with('-') && !l.starts_with("---");
    let added = |l: &str| l.starts_with('+') && !l.starts_with("+++");
    let mut i = 0;
    while i < lines.len() {
        let minus = lines[i..].iter().take_while(|l| removed(l)).count();
        let plus = lines[i + minus..].iter().take_while(|l| added(l)).count();
        if minus > 0 && minus == plus {
            let (olds, news) = (&lines[i..i + minus], &lines[i + minus..i + 2 * minus]);
            let mut marked_news = Vec::with_capacity(minus);
            for (o, n) in olds.iter().zip(news) {
                let (mo, mn) = words(&o[1..], &n[1..]);
                out.push((o.to_string(), prefixed('-', mo)));
                marked_news.push((n.to_string(), prefixed('+', mn)));
            }
            out.extend(marked_news);
            i += 2 * minus;
        } else {
            let n = (minus + plus).max(1);
            out.extend(lines[i..i + n].iter().map(|l| plain(l)));
            i += n;
        }
    }
    out
}

fn prefixed(sign: char, mut m: Marked) -> Marked {
    m.insert(0, (false, sign.to_string()));
    m
}

/// The words of two lines, those that differ marked.
fn words(old: &str, new: &str) -> (Marked, Marked) {
    let diff = TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .diff_words(old, new);
    let (mut o, mut n): (Marked, Marked) = (Vec::new(), Vec::new());
    for c in diff.iter_all_changes() {
        let v = c.value().to_owned();
        match c.tag() {
            similar::ChangeTag::Equal => {
                o.push((false, v.clone()));
                n.push((false, v));
            }
            similar::ChangeTag::Delete => o.push((!v.trim().is_empty(), v)),
            similar::ChangeTag::Insert => n.push((!v.trim().is_empty(), v)),
        }
    }
    (o, n)
}

/// [`colourize`], and the changed words of paired `-`/`+` lines also in
/// reverse video, so a changed clause or value stands out in a long line.
pub fn colourize_words(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + 64);
    for (line, marked) in mark_words(diff) {
        let colour = colour(&line);
        out.push_str(colour);
        for (changed, piece) in marked {
            if changed {
                out.push_str("\x1b[7m");
                out.push_str(&piece);
                out.push_str("\x1b[27m");
            } else {
                out.push_str(&piece);
            }
        }
        if !colour.is_empty() {
            out.push_str("\x1b[0m");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_only_what_changed_with_context() {
        let d = unified("a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(
            d,
            "--- expected\n+++ actual\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
        assert_eq!(unified("same\n", "same\n"), "");
        assert!(colourize(&d).contains("\x1b[31m-b\x1b[0m"));
    }

    #[test]
    fn the_changed_words_of_a_replaced_line_are_marked() {
        let d = "--- expected\n+++ actual\n SELECT id\n-  ORDER BY id LIMIT $2\n+  ORDER BY title, id LIMIT $2\n";
        let marked = mark_words(d);
        let changed = |i: usize| -> Vec<String> {
            marked[i]
                .1
                .iter()
                .filter(|(c, _)| *c)
                .map(|(_, w)| w.clone())
                .collect()
        };
        assert!(changed(3).is_empty(), "{:?}", marked[3]);
        assert_eq!(changed(4), ["title,"]);
        assert_eq!(
            colourize_words(d).lines().nth(4),
            Some("\x1b[32m+  ORDER BY \x1b[7mtitle,\x1b[27m id LIMIT $2\x1b[0m")
        );
    }
}
