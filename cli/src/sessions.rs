//! `reel sessions`: list, show, remove and prune recorded sessions, and
//! vacuum the store. Recorded text (names, targets, SQL) is printed through
//! [`printable`].

use std::process::ExitCode;
use std::time::Duration;

use reel_core::filter::FilterSummary;
use reel_core::model::header;
use reel_core::{Exchange, Payload, SessionState, SessionSummary, Store};

use crate::args::{SessionsArgs, SessionsCommand};
use crate::output::printable;

pub fn run(args: SessionsArgs) -> anyhow::Result<ExitCode> {
    let command = args
        .command
        .unwrap_or(SessionsCommand::List { json: false });
    let write = match command {
        SessionsCommand::Rm { .. } | SessionsCommand::Vacuum => true,
        SessionsCommand::Prune { dry_run, .. } => !dry_run,
        _ => false,
    };
    let store = Store::open_existing(&args.store.store, write)?;
    match command {
        SessionsCommand::List { json } => list(&store, json)?,
        SessionsCommand::Show { session, json } => show(&store, &session, json)?,
        SessionsCommand::Rm { session } => {
            let s = store.find_session(&session)?;
            if let Some(pid) = s.session.recorder_pid() {
                return Err(reel_core::StoreError::StillRecording {
                    id: s.session.id,
                    name: s.session.name.clone(),
                    pid,
                }
                .into());
            }
            store.delete_session(s.session.id)?;
            finish_removals(&store)?;
            out!(
                "Removed session {} \"{}\" ({} exchanges)",
                s.session.id,
                printable(&s.session.name),
                s.exchanges
            );
        }
        SessionsCommand::Prune {
            older_than,
            dry_run,
        } => prune(&store, older_than, dry_run)?,
        SessionsCommand::Vacuum => vacuum(&store)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Sessions listed by name in a summary; the rest are counted.
const LISTED: usize = 5;

/// Removes the sessions started before now - `age` whose recorder is gone
/// (ended or interrupted); skips, and names, those still being recorded.
fn prune(store: &Store, age: Duration, dry_run: bool) -> anyhow::Result<()> {
    let cutoff_micros =
        chrono::Utc::now().timestamp_micros() - i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
    let cutoff = local_time(cutoff_micros);
    let (live, old): (Vec<_>, Vec<_>) = store
        .list_sessions()?
        .into_iter()
        .filter(|s| s.session.started_at.0 < cutoff_micros)
        .partition(|s| s.state == SessionState::Recording);
    let exchanges: u64 = old.iter().map(|s| s.exchanges).sum();
    if old.is_empty() {
        out!("No sessions started before {cutoff} to remove");
    } else {
        let verb = if dry_run { "Would remove" } else { "Removing" };
        out!(
            "{verb} {} session{} started before {cutoff} ({exchanges} exchanges):",
            old.len(),
            plural(old.len())
        );
        session_lines(&old);
        if !dry_run {
            for s in &old {
                store.delete_session(s.session.id)?;
            }
            out!("Removed {} session{}", old.len(), plural(old.len()));
        }
    }
    if !dry_run {
        finish_removals(store)?;
    }
    if !live.is_empty() {
        out!(
            "Skipped {} session{} still being recorded:",
            live.len(),
            plural(live.len())
        );
        session_lines(&live);
    }
    if !dry_run && !old.is_empty() {
        out!(
            "{} of the store is free for new recordings; `reel sessions vacuum` gives it back to the filesystem",
            size(store.free_bytes()?)
        );
    }
    Ok(())
}

/// Finishes the removals an earlier `rm` or `prune` did not (it was
/// stopped partway); they are hidden from every listing already.
fn finish_removals(store: &Store) -> anyhow::Result<()> {
    let left = store.unfinished_removals()?;
    for id in &left {
        store.delete_session(*id)?;
    }
    if !left.is_empty() {
        out!(
            "Finished removing {} session{} an earlier removal left partway",
            left.len(),
            plural(left.len())
        );
    }
    Ok(())
}

/// The first [`LISTED`] sessions, one a line, then how many more.
fn session_lines(sessions: &[SessionSummary]) {
    for s in sessions.iter().take(LISTED) {
        out!(
            "  {:>4}  {:<28} {:<20} {:>9} exchanges",
            s.session.id,
            printable(&s.session.name),
            local_time(s.session.started_at.0),
            s.exchanges
        );
    }
    if sessions.len() > LISTED {
        out!(
            "  … and {} more (reel sessions list shows them all)",
            sessions.len() - LISTED
        );
    }
}

/// VACUUM, refused while a recorder writes to the store: VACUUM holds the
/// write lock from start to end (WAL lets readers on, not writers), so the
/// recorder's batches would wait, and past its busy timeout be dropped.
fn vacuum(store: &Store) -> anyhow::Result<()> {
    if let Some(s) = store
        .list_sessions()?
        .into_iter()
        .find(|s| s.state == SessionState::Recording)
    {
        anyhow::bail!(
            "session {} \"{}\" is still being recorded into {} (reel process {}): VACUUM would hold up its writes for as long as it runs; stop that recorder first",
            s.session.id,
            printable(&s.session.name),
            store.path().display(),
            s.session.recorder_pid().unwrap_or_default()
        );
    }
    let before = store.disk_size();
    store.vacuum()?;
    let after = store.disk_size();
    out!(
        "Vacuumed {}: {} before, {} after ({} given back)",
        store.path().display(),
        size(before),
        size(after),
        size(before.saturating_sub(after))
    );
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Bytes in the largest binary unit that keeps the number at 1 or more.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn list(store: &Store, as_json: bool) -> anyhow::Result<()> {
    let sessions = store.list_sessions()?;
    if as_json {
        out!("{}", serde_json::to_string_pretty(&sessions)?);
        return Ok(());
    }
    if sessions.is_empty() {
        out!("No sessions in {}", store.path().display());
        return Ok(());
    }
    out!(
        "{:>4}  {:<28} {:<20} {:>9} {:>9} {:>9} {:>7}",
        "ID",
        "NAME",
        "STARTED",
        "DURATION",
        "INBOUND",
        "OUTBOUND",
        "DROPPED"
    );
    for s in &sessions {
        out!(
            "{:>4}  {:<28} {:<20} {:>9} {:>9} {:>9} {:>7}",
            s.session.id,
            printable(&s.session.name),
            local_time(s.session.started_at.0),
            duration(s),
            s.inbound,
            s.outbound,
            s.session.dropped
        );
    }
    Ok(())
}

fn show(store: &Store, which: &str, as_json: bool) -> anyhow::Result<()> {
    let summary = store.find_session(which)?;
    if as_json {
        // `{"session": ..., "exchanges": [...]}` as serde_json pretty-prints
        // it, written one exchange at a time: a long session is never held.
        let nested = |v: String, by: &str| v.replace('\n', &format!("\n{by}"));
        out_part!(
            "{{\n  \"session\": {},\n  \"exchanges\": [",
            nested(serde_json::to_string_pretty(&summary)?, "  ")
        );
        let mut first = true;
        let mut failed = None;
        store.each_exchange(summary.session.id, |e| {
            match serde_json::to_string_pretty(&e) {
                Ok(text) => out_part!(
                    "{}\n    {}",
                    if first { "" } else { "," },
                    nested(text, "    ")
                ),
                Err(err) => failed = failed.take().or(Some(err)),
            }
            first = false;
        })?;
        if let Some(err) = failed {
            return Err(err.into());
        }
        out!("{}\n}}", if first { "]" } else { "\n  ]" });
        return Ok(());
    }
    let s = &summary.session;
    out!("Session {} \"{}\"", s.id, printable(&s.name));
    out!("  target    {}", printable(&s.target));
    out!("  started   {}", local_time(s.started_at.0));
    out!("  duration  {}", duration(&summary));
    if summary.state == SessionState::Interrupted {
        out!("  state     interrupted: its recorder stopped without ending it; what it stored is kept");
    }
    out!(
        "  exchanges {} ({} inbound, {} outbound), {} dropped",
        summary.exchanges,
        summary.inbound,
        summary.outbound,
        s.dropped
    );
    if let Some(f) = FilterSummary::from_setup(&s.setup) {
        out!("  {}", printable(&filter_line(&f)));
    }
    out!();
    store.each_exchange(s.id, |e| out!("{}", printable(&exchange_line(&e))))?;
    Ok(())
}

/// What the recording's filters left out, and which filters they were.
fn filter_line(f: &FilterSummary) -> String {
    let mut how = Vec::new();
    if !f.include.is_empty() {
        how.push(format!("--include {}", f.include.join(", ")));
    }
    if !f.exclude.is_empty() {
        how.push(format!("--exclude {}", f.exclude.join(", ")));
    }
    if let Some(rate) = f.sample {
        let seed = f
            .sample_seed
            .map(|s| format!(" --sample-seed {s}"))
            .unwrap_or_default();
        how.push(format!("--sample {rate}{seed}"));
    }
    format!(
        "left out  {} inbound requests, proxied but not stored: {} filtered, {} reads sampled away ({})",
        f.left_out(),
        f.filtered_out,
        f.sampled_out,
        how.join("; ")
    )
}

fn exchange_line(e: &Exchange) -> String {
    let who = match &e.dependency {
        Some(d) => format!("→ {d}"),
        None => "← client".to_owned(),
    };
    let request = match &e.request {
        Payload::HttpRequest(r) => format!("{} {}", r.method, r.target),
        Payload::Wire { decoded, .. } => decoded.value().to_string(),
        Payload::HttpResponse(_) => String::new(),
    };
    let response = match &e.response {
        Some(Payload::HttpResponse(r)) => {
            let ty = header(&r.headers, "content-type")
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            let cut = if r.body.truncated { ", cut" } else { "" };
            format!("{} {} {}B{cut}", r.status, ty, r.body.size)
        }
        Some(_) => "answered".to_owned(),
        None => "no response".to_owned(),
    };
    let ms = e
        .ended_at
        .map(|end| format!("{:.1}ms", (end.0 - e.started_at.0) as f64 / 1000.0))
        .unwrap_or_else(|| "-".into());
    let mut line = format!(
        "{:>5} {:<9} {:<14} {:<5} conn {:<4} {request} → {response} ({ms})",
        e.seq,
        e.direction.as_str(),
        who,
        e.protocol.as_str(),
        e.connection
    );
    if let Some(err) = &e.error {
        line.push_str(&format!("\n        error: {err}"));
    }
    line
}

fn local_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

fn duration(s: &SessionSummary) -> String {
    match s.session.ended_at {
        Some(end) => {
            let secs = (end.0 - s.session.started_at.0) as f64 / 1e6;
            if secs < 60.0 {
                format!("{secs:.1}s")
            } else {
                format!("{}m{:02}s", (secs / 60.0) as u64, secs as u64 % 60)
            }
        }
        None if s.state == SessionState::Interrupted => "interrupted".to_owned(),
        None => "recording".to_owned(),
    }
}
