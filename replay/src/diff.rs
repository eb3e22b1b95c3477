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
        let colour = if line.starts_with("---") || line.starts_with("+++") {
            "\x1b[1m"
        } else if line.starts_with('-') {
            "\x1b[31m"
        } else if line.starts_with('+') {
            "\x1b[32m"
        } else if line.starts_with("@@") {
            "\x1b[36m"
        } else {
            ""
        };
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
}
