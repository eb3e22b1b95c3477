//! Recorded content made safe to print: every recorded or replayed value
//! (bodies in diffs, calls in miss diffs, `sessions show`, `review`, app
//! output) reaches a terminal through [`printable`].
//!
//! A body is whatever the app or a dependency sent, and a suite is whatever a
//! pull request committed: printed raw, `ESC]0;...BEL` retitles the terminal,
//! `ESC[2J` clears it, a CR overwrites the line before it and a
//! right-to-left override reorders what a reviewer reads. The HTML report
//! shows the same characters the same way.

use std::borrow::Cow;

/// `text` with every character that a terminal would act on rather than
/// show made visible: C0 controls (but newline, tab and the CR of a CRLF
/// line end) and DEL as their Unicode control pictures (`␛`, `␍`, `␇`,
/// `␡`); C1 controls and the bidirectional overrides and isolates as
/// `\u{9b}`, `\u{202e}`.
pub fn printable(text: &str) -> Cow<'_, str> {
    let mut chars = text.chars().peekable();
    let mut clean = true;
    while let Some(c) = chars.next() {
        if acts(c, chars.peek()) {
            clean = false;
            break;
        }
    }
    if clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if !acts(c, chars.peek()) => out.push(c),
            c if (c as u32) < 0x20 => {
                out.push(char::from_u32(0x2400 + c as u32).expect("a control picture"))
            }
            '\u{7f}' => out.push('\u{2421}'),
            c => out.push_str(&c.escape_unicode().to_string()),
        }
    }
    Cow::Owned(out)
}

/// A character a terminal acts on instead of showing. A CR right before a
/// LF ends a line like the LF alone (nothing is written over).
fn acts(c: char, next: Option<&char>) -> bool {
    match c {
        '\n' | '\t' => false,
        '\r' => next != Some(&'\n'),
        c if c.is_control() => true,
        // Embeddings, overrides and isolates: U+202A..U+202E, U+2066..U+2069.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_are_shown_not_obeyed() {
        assert_eq!(
            printable("a\u{1b}]0;pwned\u{7}b\u{1b}[2J\rc\td\u{0}\u{7f}\r"),
            "a␛]0;pwned␇b␛[2J␍c\td␀␡␍"
        );
        assert_eq!(
            printable("\u{9b}31m \u{202e}fdp.exe"),
            "\\u{9b}31m \\u{202e}fdp.exe"
        );
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        let text = "{\r\n\t\"title\": \"Dune – ünïcode ✓\"\n}\r\n";
        assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
    }
}
