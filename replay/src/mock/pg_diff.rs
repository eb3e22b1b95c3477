//! How a Postgres call that no recording matches is shown against the
//! nearest recording: only the messages that differ, a statement that
//! differs formatted over several lines (one clause a line) so the changed
//! clause stands out, and of a Bind only the parameters that differ. The
//! result is a unified diff (`-` recorded, `+` sent) that the terminal and
//! the HTML report colour, changed words highlighted ([`crate::diff`]).

use similar::{capture_diff_slices, Algorithm, DiffOp, TextDiff};

use super::pg_book::{Canon, Param};

/// Statements shorter than this stay on one line.
const ONE_LINE: usize = 60;

/// The diff of `recorded` (the nearest recording) and `actual` (what the
/// app sent), headed `expected` / `actual`; empty when they are the same.
pub fn miss_diff(recorded: &[Canon], actual: &[Canon]) -> String {
    let keys = |g: &[Canon]| g.iter().map(Canon::text).collect::<Vec<_>>();
    let (old, new) = (keys(recorded), keys(actual));
    let mut body = String::new();
    let mut shown = None;
    for op in capture_diff_slices(Algorithm::Myers, &old, &new) {
        match op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                for c in &recorded[old_index..old_index + old_len] {
                    whole(&mut body, '-', c);
                }
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                for c in &actual[new_index..new_index + new_len] {
                    whole(&mut body, '+', c);
                }
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                let olds = &recorded[old_index..old_index + old_len];
                let news = &actual[new_index..new_index + new_len];
                let paired = olds.len().min(news.len());
                for (r, a) in olds.iter().zip(news) {
                    message(&mut body, r, a, &mut shown);
                }
                for c in &olds[paired..] {
                    whole(&mut body, '-', c);
                }
                for c in &news[paired..] {
                    whole(&mut body, '+', c);
                }
            }
        }
    }
    if body.is_empty() {
        return String::new();
    }
    format!("--- expected\n+++ actual\n{body}")
}

/// A message only one side has, in full.
fn whole(out: &mut String, sign: char, c: &Canon) {
    let (head, sql) = split(c);
    match sql {
        Some(sql) => {
            out.push_str(&format!("{sign}{head}\n"));
            for line in format_sql(sql) {
                out.push_str(&format!("{sign}  {line}\n"));
            }
            if let Canon::Bind { params, .. } = c {
                for (i, p) in params.iter().enumerate() {
                    out.push_str(&format!("{sign}  ${} = {}\n", i + 1, param_text(p)));
                }
            }
        }
        None => out.push_str(&format!("{sign}{}\n", c.text())),
    }
}

/// Two messages in the same place: what differs between them. A statement
/// change already shown (`shown`) is not repeated for the Bind and Execute
/// that run it; a message with nothing else different is left out.
fn message(out: &mut String, r: &Canon, a: &Canon, shown: &mut Option<(String, String)>) {
    let (rh, rs) = split(r);
    let (ah, asql) = split(a);
    if rh != ah {
        whole(out, '-', r);
        whole(out, '+', a);
        return;
    }
    let mut details = String::new();
    if let (
        Canon::Bind {
            params: rp,
            formats: rf,
            result_formats: rr,
            ..
        },
        Canon::Bind {
            params: ap,
            formats: af,
            result_formats: ar,
            ..
        },
    ) = (r, a)
    {
        for i in 0..rp.len().max(ap.len()) {
            let (x, y) = (rp.get(i), ap.get(i));
            if x != y {
                if let Some(x) = x {
                    details.push_str(&format!("-  ${} = {}\n", i + 1, param_text(x)));
                }
                if let Some(y) = y {
                    details.push_str(&format!("+  ${} = {}\n", i + 1, param_text(y)));
                }
            }
        }
        if rf != af {
            details.push_str(&format!(
                "-  parameter formats {rf:?}\n+  parameter formats {af:?}\n"
            ));
        }
        if rr != ar {
            details.push_str(&format!(
                "-  result formats {rr:?}\n+  result formats {ar:?}\n"
            ));
        }
    }
    match (rs, asql) {
        (Some(x), Some(y)) if x != y => {
            let pair = (x.to_owned(), y.to_owned());
            if shown.as_ref() == Some(&pair) {
                if !details.is_empty() {
                    out.push_str(&format!(" {rh} (of the statement above)\n{details}"));
                }
                return;
            }
            out.push_str(&format!(" {rh}\n"));
            let (x, y) = (format_sql(x).join("\n"), format_sql(y).join("\n"));
            // The whole statement, as context for the changed clause.
            for change in TextDiff::from_lines(&x, &y).iter_all_changes() {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                out.push_str(&format!(
                    "{sign}  {}\n",
                    change.value().trim_end_matches('\n')
                ));
            }
            out.push_str(&details);
            *shown = Some(pair);
        }
        (Some(sql), _) => out.push_str(&format!(" {rh}: {}\n{details}", short(sql))),
        _ => out.push_str(&format!(" {rh}\n{details}")),
    }
}

/// A message's name (`Parse`, `Describe statement`) and its SQL, if any.
fn split(c: &Canon) -> (String, Option<&str>) {
    let text = c.text();
    let head = text.split(':').next().unwrap_or_default().to_owned();
    let sql = match c {
        Canon::Query(s) | Canon::Parse { sql: s, .. } => Some(s.as_str()),
        Canon::Bind { sql, .. }
        | Canon::Describe(_, sql)
        | Canon::Execute(sql, _)
        | Canon::Close(_, sql) => sql.as_deref(),
        _ => None,
    };
    let head = match c {
        Canon::Parse { types, .. } if !types.is_empty() => format!("{head} (types {types:?})"),
        Canon::Execute(_, n) if *n != 0 => format!("{head} (max rows {n})"),
        _ => head,
    };
    (head, sql)
}

fn param_text(p: &Param) -> String {
    match p {
        Param::Matcher(kind) => format!("{{\"$reel\": \"{kind}\"}}"),
        Param::Value(None) => "NULL".into(),
        Param::Value(Some(b)) => match std::str::from_utf8(b) {
            Ok(t) if !t.chars().any(char::is_control) => format!("'{t}'"),
            _ => format!(
                "0x{}",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            ),
        },
    }
}

/// A statement cut to one short line, for context.
pub fn short(sql: &str) -> String {
    const MAX: usize = 72;
    if sql.chars().count() <= MAX {
        sql.to_owned()
    } else {
        format!("{}…", sql.chars().take(MAX - 1).collect::<String>())
    }
}

/// Clauses that start a line of a formatted statement, longest first.
const CLAUSES: &[&str] = &[
    "left outer join",
    "right outer join",
    "full outer join",
    "insert into",
    "delete from",
    "on conflict",
    "union all",
    "group by",
    "order by",
    "left join",
    "right join",
    "inner join",
    "full join",
    "cross join",
    "returning",
    "select",
    "update",
    "values",
    "having",
    "offset",
    "window",
    "where",
    "limit",
    "union",
    "from",
    "join",
    "with",
    "set",
    "and",
    "or",
];

/// A statement over several lines: a line for each clause (SELECT, FROM,
/// each JOIN, WHERE, ORDER BY, ...) and each AND / OR at the top level,
/// never inside quotes or parentheses. Short statements stay on one line.
pub fn format_sql(sql: &str) -> Vec<String> {
    if sql.chars().count() < ONE_LINE {
        return vec![sql.to_owned()];
    }
    let chars: Vec<char> = sql.chars().collect();
    let lower: Vec<char> = sql.to_lowercase().chars().collect();
    // Lower-casing may change the length of odd characters: then no breaks.
    if lower.len() != chars.len() {
        return vec![sql.to_owned()];
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            line.push(c);
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        let at_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if depth == 0 && at_word && !line.trim().is_empty() {
            let found = CLAUSES.iter().find(|k| {
                let k: Vec<char> = k.chars().collect();
                lower[i..].starts_with(&k)
                    && lower
                        .get(i + k.len())
                        .is_none_or(|n| !(n.is_alphanumeric() || *n == '_'))
            });
            if let Some(k) = found {
                lines.push(line.trim_end().to_owned());
                line = if matches!(*k, "and" | "or") {
                    "  ".into()
                } else {
                    String::new()
                };
                // The keyword as written; its words start no other line.
                let n = k.chars().count();
                line.extend(&chars[i..i + n]);
                i += n;
                continue;
            }
        }
        line.push(c);
        i += 1;
    }
    if !line.trim().is_empty() {
        lines.push(line.trim_end().to_owned());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_statement_gets_a_line_per_clause_and_quotes_stay_whole() {
        let sql = "SELECT id, title, (SELECT count(*) FROM reviews r WHERE r.book = b.id) AS n \
                   FROM books b LEFT JOIN authors a ON a.id = b.author \
                   WHERE b.title <> 'from where' AND b.price > $1 ORDER BY title, id LIMIT $2 OFFSET $3";
        assert_eq!(
            format_sql(sql),
            [
                "SELECT id, title, (SELECT count(*) FROM reviews r WHERE r.book = b.id) AS n",
                "FROM books b",
                "LEFT JOIN authors a ON a.id = b.author",
                "WHERE b.title <> 'from where'",
                "  AND b.price > $1",
                "ORDER BY title, id",
                "LIMIT $2",
                "OFFSET $3",
            ]
        );
        assert_eq!(format_sql("select 1"), ["select 1"]);
    }

    #[test]
    fn only_the_messages_and_clauses_that_differ_are_shown() {
        let select = |order: &str| {
            format!(
                "SELECT id, title, author FROM books WHERE author = $1 ORDER BY {order} LIMIT $2"
            )
        };
        let group = |order: &str, param: &str| {
            vec![
                Canon::Parse {
                    sql: select(order),
                    types: vec![],
                },
                Canon::Bind {
                    sql: Some(select(order)),
                    formats: vec![],
                    params: vec![
                        Param::Value(Some(param.as_bytes().to_vec())),
                        Param::Value(Some(b"10".to_vec())),
                    ],
                    result_formats: vec![],
                },
                Canon::Execute(Some(select(order)), 0),
                Canon::Sync,
            ]
        };
        insta::assert_snapshot!(
            miss_diff(&group("id", "Le Guin"), &group("title, id", "Tolkien")),
            @r"
        --- expected
        +++ actual
         Parse
           SELECT id, title, author
           FROM books
           WHERE author = $1
        -  ORDER BY id
        +  ORDER BY title, id
           LIMIT $2
         Bind (of the statement above)
        -  $1 = 'Le Guin'
        +  $1 = 'Tolkien'
        "
        );
        insta::assert_snapshot!(
            miss_diff(&group("id", "Le Guin"), &group("id", "Tolkien")),
            @r"
        --- expected
        +++ actual
         Bind: SELECT id, title, author FROM books WHERE author = $1 ORDER BY id LIMIT…
        -  $1 = 'Le Guin'
        +  $1 = 'Tolkien'
        "
        );
        assert_eq!(miss_diff(&group("id", "x"), &group("id", "x")), "");
    }
}
