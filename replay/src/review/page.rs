//! The markup of `reel review --web`: the page's frame, the case list and
//! one case, rendered here so that every recorded value reaches the browser
//! through [`escape`], as in the static report, whose case view this reuses.
//! The script only fetches these fragments, sends decisions and moves
//! between cases; it never builds markup from recorded values.

use std::fmt::Write as _;
use std::path::Path;

use super::decide::Plan;
use super::Entry;
use crate::diff::unified;
use crate::report::failure_summary;
use crate::report::html::{attr, case_detail, escape, unified_marked, CSS};
use crate::RunReport;

/// The page's own style: the report's, and what the review adds.
pub fn css() -> String {
    format!("{CSS}{REVIEW_CSS}")
}

pub const SCRIPT: &str = include_str!("review.js");

/// The page: a frame the script fills. `token` goes into the links of the
/// page's own style and script, which cannot carry it in a header.
pub fn frame(suite_name: &str, report: Option<&RunReport>, token: &str) -> String {
    let token = escape(token);
    let run = match report {
        Some(r) => format!(
            "Last run {}: {} passed, {} failed, {} skipped",
            escape(
                &chrono::DateTime::parse_from_rfc3339(&r.started_at)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_else(|_| r.started_at.clone())
            ),
            r.passed,
            r.failed,
            r.skipped
        ),
        None => "No run kept: reel test keeps its last run for review outside CI (or with --write-pending)".into(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <title>reel review · {name}</title>\n\
         <link rel=\"stylesheet\" href=\"/review.css?token={token}\">\n\
         <script src=\"/review.js?token={token}\" defer></script>\n</head>\n<body>\n\
         <header class=\"top rv\"><div class=\"wrap\">\n\
         <div class=\"brand\">reel · review</div>\n<h1>{name}</h1>\n\
         <div class=\"runline\">{run}</div>\n\
         <div id=\"changed\" class=\"callout fail\" hidden>The suite changed on disk since this page loaded it. \
         <button type=\"button\" id=\"reload\">Reload</button></div>\n\
         <div class=\"filters\" role=\"search\">\
         <span id=\"counts\"></span>\
         <label>Show <select id=\"f-outcome\"><option value=\"\">all</option><option value=\"failed\">failed</option>\
         <option value=\"pending\">pending</option><option value=\"passed\">passed</option><option value=\"skipped\">skipped</option>\
         <option value=\"not run\">not run</option></select></label>\
         <label>Method <select id=\"f-method\"><option value=\"\">any</option></select></label>\
         <label>Dependency <select id=\"f-dep\"><option value=\"\">any</option></select></label>\
         <label>Path <input id=\"f-path\" type=\"search\" placeholder=\"/books\" autocomplete=\"off\"></label>\
         <span class=\"hint\">j/k move · a accept · r reject · s skip · ? help</span></div>\n\
         </div></header>\n\
         <div class=\"rv-main\"><nav id=\"list\" class=\"rv-list\" aria-label=\"Cases\"></nav>\
         <main id=\"case\" class=\"rv-case\"><p class=\"empty\">Loading…</p></main></div>\n\
         <div id=\"plan\" class=\"rv-plan\" hidden></div>\n\
         <div id=\"help\" class=\"rv-help\" hidden><h2>Keys</h2><dl>\
         <dt>j / k</dt><dd>next / previous case in the list</dd>\
         <dt>a</dt><dd>accept: show what it changes; Enter applies, Esc cancels</dd>\
         <dt>r</dt><dd>reject: show what it changes; Enter applies, Esc cancels</dd>\
         <dt>s</dt><dd>skip to the next case</dd>\
         <dt>?</dt><dd>this help (Esc closes it)</dd></dl>\
         <p>Each difference has its own buttons: ignore its path in this case or in the whole suite, or match it by kind.</p></div>\n\
         <div id=\"toast\" class=\"rv-toast\" role=\"status\" hidden></div>\n\
         </body>\n</html>\n",
        name = escape(suite_name),
    )
}

/// The case list, failing cases first, each item carrying what the filters
/// read in `data-` attributes.
pub fn list(entries: &[Entry]) -> String {
    let mut order: Vec<&Entry> = entries.iter().collect();
    let rank = |e: &Entry| match (e.outcome(), e.pending) {
        ("failed", _) => 0,
        (_, true) => 1,
        ("not run", _) => 2,
        ("skipped", _) => 3,
        _ => 4,
    };
    order.sort_by_key(|e| rank(e));
    let count = |o: &str| entries.iter().filter(|e| e.outcome() == o).count();
    let pending = entries.iter().filter(|e| e.pending).count();
    let mut out = String::new();
    let _ = write!(
        out,
        "<div class=\"rv-counts\" id=\"tally\" data-failed=\"{f}\" data-pending=\"{pending}\">\
         <span class=\"count all\"><b>{}</b> cases</span>\
         <span class=\"count failed\"><b>{f}</b> failed</span>\
         <span class=\"count pending\"><b>{pending}</b> pending</span>\
         <span class=\"count passed\"><b>{}</b> passed</span></div><ol>",
        entries.len(),
        count("passed"),
        f = count("failed"),
    );
    for e in order {
        let why = e
            .result
            .as_ref()
            .map(failure_summary)
            .filter(|_| e.outcome() == "failed")
            .unwrap_or_default();
        let _ = write!(
            out,
            "<li class=\"item {cls}\" data-name=\"{key}\" data-outcome=\"{outcome}\" data-pending=\"{pending}\" \
             data-method=\"{method_attr}\" data-path=\"{target_attr}\" data-deps=\"{deps}\" tabindex=\"-1\">\
             <span class=\"badge\">{badge}</span><span class=\"nm\">{name}</span>\
             <span class=\"rq\"><b>{method}</b> {target}</span>",
            cls = e.outcome().replace(' ', "-"),
            key = attr(&e.name),
            name = escape(&e.name),
            outcome = e.outcome(),
            pending = e.pending,
            method_attr = attr(&e.method),
            method = escape(&e.method),
            target_attr = attr(&e.target),
            target = escape(&e.target),
            deps = attr(&e.deps.join(" ")),
            badge = badge(e),
        );
        if let Some(d) = &e.decided {
            let _ = write!(out, "<span class=\"done\">{}</span>", escape(d));
        } else if !why.is_empty() {
            let _ = write!(out, "<span class=\"why\">{}</span>", escape(&why));
        }
        out.push_str("</li>");
    }
    out.push_str("</ol>");
    out
}

fn badge(e: &Entry) -> &'static str {
    match (e.outcome(), e.pending) {
        ("failed", _) => "FAIL",
        (_, true) => "PENDING",
        ("passed", _) => "PASS",
        ("skipped", _) => "SKIP",
        _ => "NOT RUN",
    }
}

/// One case: its title, the decisions it offers and what the last run found.
pub fn case(dir: &Path, e: &Entry) -> String {
    let mut out = String::new();
    let file = e.path.strip_prefix(dir).unwrap_or(&e.path);
    let _ = write!(
        out,
        "<section class=\"case {cls}\"><div class=\"rv-title\"><span class=\"badge\">{badge}</span>\
         <h2>{name}</h2><span class=\"file\">{file}</span></div>\n<div class=\"rv-actions\">",
        cls = e.outcome().replace(' ', "-"),
        badge = badge(e),
        name = escape(&e.name),
        file = escape(&file.display().to_string()),
    );
    let off = |on: bool| if on { "" } else { " disabled" };
    let _ = write!(
        out,
        "<button type=\"button\" id=\"do-accept\" data-act=\"accept\"{}><u>a</u>ccept</button>\
         <button type=\"button\" id=\"do-reject\" data-act=\"reject\"{}><u>r</u>eject</button>\
         <button type=\"button\" id=\"do-skip\" data-act=\"skip\"><u>s</u>kip</button>",
        off(e.pending),
        off(e.pending),
    );
    out.push_str(
        "<button type=\"button\" id=\"do-rerun\" data-act=\"rerun\">Re-run this case</button>",
    );
    out.push_str("</div>\n");
    if let Some(d) = &e.decided {
        let _ = write!(
            out,
            "<div class=\"callout ok\"><b>Decided:</b> {}</div>",
            escape(d)
        );
    }
    if !e.pending && e.outcome() == "failed" {
        out.push_str("<div class=\"callout skip\">No pending snapshot: nothing to accept or reject (it was decided, or the run kept none: CI is set). Re-run the case, or reel test, to get one.</div>");
    }
    if e.stale {
        out.push_str("<div class=\"callout skip\">This case's files changed on disk since the last run: what the run found below may no longer hold. Re-run it to refresh.</div>");
    }
    match &e.result {
        Some(r) => {
            out.push_str("<div class=\"case-body\">");
            case_detail(r, !e.stale, &mut out);
            out.push_str("</div>");
        }
        None => {
            out.push_str("<div class=\"case-body\"><p class=\"note\">The last run kept no result for this case.</p>");
            if e.pending {
                file_change(&e.path, &crate::pending::pending_path(&e.path), &mut out);
            }
            out.push_str("</div>");
        }
    }
    out.push_str("</section>");
    out
}

/// The change the pending snapshot makes to the case file, as a diff.
fn file_change(case: &Path, pending: &Path, out: &mut String) {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let diff = unified(&read(case), &read(pending));
    out.push_str("<h3>What accepting changes</h3><pre class=\"block udiff\">");
    unified_marked(&diff, out);
    out.push_str("</pre>");
}

/// What a decision will do, file by file, before it is applied.
pub fn plan(dir: &Path, plan: &Plan) -> String {
    let mut out = String::new();
    let _ = write!(out, "<p class=\"says\">{}</p>", escape(&plan.says));
    for c in &plan.changes {
        let file = c.file.strip_prefix(dir).unwrap_or(&c.file);
        let what = if c.after.is_some() {
            "rewritten"
        } else {
            "removed"
        };
        let _ = write!(
            out,
            "<h4><code>{}</code> {what}</h4>",
            escape(&file.display().to_string())
        );
        if let Some(after) = &c.after {
            out.push_str("<pre class=\"block udiff\">");
            // The heading names the file: the diff's own header lines go.
            let diff = unified(&c.before, after);
            let body: String = diff
                .split_inclusive('\n')
                .skip_while(|l| l.starts_with("--- ") || l.starts_with("+++ "))
                .collect();
            unified_marked(&body, &mut out);
            out.push_str("</pre>");
        }
    }
    out
}

const REVIEW_CSS: &str = r#"
header.top.rv{border-top-color:var(--accent);padding:10px 0 10px}
.runline{color:var(--muted);font-size:13px}
.filters{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;margin-top:8px;font-size:13px}
.filters select,.filters input{font:inherit;padding:2px 6px;border:1px solid var(--line);border-radius:6px;background:var(--panel);color:var(--fg)}
.rv-main{display:grid;grid-template-columns:minmax(260px,26%) 1fr;gap:0;min-height:calc(100vh - 140px)}
.rv-list{border-right:1px solid var(--line);background:var(--panel);overflow:auto;max-height:calc(100vh - 140px);position:sticky;top:0}
.rv-list ol{list-style:none;margin:0;padding:0}
.rv-counts{display:flex;flex-wrap:wrap;gap:6px;padding:8px 10px;border-bottom:1px solid var(--line)}
.rv-counts .count{cursor:default;font-size:12px;padding:1px 8px}
.count.pending{color:var(--skip);background:var(--skip-bg);border-color:var(--skip)}
.item{display:grid;grid-template-columns:auto 1fr;gap:0 8px;padding:6px 10px;border-bottom:1px solid var(--line);cursor:pointer}
.item .badge{grid-row:span 3;align-self:start;font-size:10.5px;font-weight:700;padding:1px 6px;border-radius:4px;background:var(--soft);border:1px solid var(--line)}
.item.failed .badge{color:var(--fail);background:var(--fail-bg);border-color:var(--fail)}
.item.passed .badge{color:var(--pass);background:var(--pass-bg);border-color:var(--pass)}
.item[data-pending=true]:not(.failed) .badge{color:var(--skip);background:var(--skip-bg);border-color:var(--skip)}
.item .nm{font-weight:600;overflow-wrap:anywhere}
.item .rq{font-family:var(--mono);font-size:12px;color:var(--muted);overflow-wrap:anywhere}
.item .why{font-size:12px;color:var(--fail);overflow-wrap:anywhere}
.item .done{font-size:12px;color:var(--pass);overflow-wrap:anywhere}
.item.sel{background:var(--soft);box-shadow:inset 3px 0 0 var(--accent)}
.item.hide{display:none}
.rv-case{padding:14px 22px;min-width:0}
.rv-title{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
.rv-title h2{margin:0;font-size:19px;overflow-wrap:anywhere}
.rv-title .file{color:var(--muted);font-family:var(--mono);font-size:12px}
.rv-title .badge{font-size:11px;font-weight:700;padding:1px 7px;border-radius:4px;border:1px solid var(--line)}
.case.failed .rv-title .badge{color:var(--fail);background:var(--fail-bg);border-color:var(--fail)}
.case.passed .rv-title .badge{color:var(--pass);background:var(--pass-bg);border-color:var(--pass)}
.rv-actions{display:flex;gap:8px;margin:10px 0}
button{font:inherit;padding:3px 12px;border-radius:6px;border:1px solid var(--line);background:var(--soft);color:var(--fg);cursor:pointer}
button:disabled{opacity:.45;cursor:default}
#do-accept:not(:disabled){border-color:var(--pass);color:var(--pass)}
#do-reject:not(:disabled){border-color:var(--fail);color:var(--fail)}
button.dact{font-size:11.5px;padding:0 6px;margin:1px 3px 1px 0;white-space:nowrap}
table.diffs col.acts{width:290px}
table.diffs td.acts{white-space:nowrap;font-family:inherit}
.callout.ok{border-color:var(--pass);background:var(--pass-bg)}
.rv-plan{position:fixed;right:18px;bottom:18px;width:min(760px,calc(100vw - 36px));max-height:70vh;overflow:auto;background:var(--panel);border:2px solid var(--accent);border-radius:10px;padding:12px 16px;box-shadow:0 8px 30px rgba(0,0,0,.25)}
.rv-plan h2{margin:0 0 4px;font-size:16px}
.rv-plan .says{margin:4px 0 8px}
.rv-plan h4{font-size:13px;margin:10px 0 4px;font-weight:600}
.rv-plan pre{max-height:38vh;overflow:auto}
.rv-plan .go{display:flex;gap:8px;margin-top:10px}
.rv-help{position:fixed;left:50%;top:20%;transform:translateX(-50%);background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:12px 20px;box-shadow:0 8px 30px rgba(0,0,0,.25)}
.rv-help dl{display:grid;grid-template-columns:auto 1fr;gap:4px 14px}
.rv-toast{position:fixed;left:18px;bottom:18px;max-width:50vw;background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:8px 14px;box-shadow:0 4px 16px rgba(0,0,0,.2)}
.rv-toast.bad{border-color:var(--fail);color:var(--fail)}
[hidden]{display:none !important}
"#;
