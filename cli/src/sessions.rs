//! `reel sessions`: list, show and remove recorded sessions. Recorded
//! text (names, targets, SQL) is printed through [`printable`].

use std::process::ExitCode;

use reel_core::filter::FilterSummary;
use reel_core::model::header;
use reel_core::{Exchange, Payload, SessionState, SessionSummary, Store};
use serde_json::json;

use crate::args::{SessionsArgs, SessionsCommand};
use crate::output::printable;

pub fn run(args: SessionsArgs) -> anyhow::Result<ExitCode> {
    let command = args
        .command
        .unwrap_or(SessionsCommand::List { json: false });
    let write = matches!(command, SessionsCommand::Rm { .. });
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
            out!(
                "Removed session {} \"{}\" ({} exchanges)",
                s.session.id,
                printable(&s.session.name),
                s.exchanges
            );
        }
    }
    Ok(ExitCode::SUCCESS)
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
    let exchanges = store.exchanges(summary.session.id)?;
    if as_json {
        let v = json!({ "session": summary, "exchanges": exchanges });
        out!("{}", serde_json::to_string_pretty(&v)?);
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
    for e in &exchanges {
        out!("{}", printable(&exchange_line(e)));
    }
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
        Payload::Wire { decoded, .. } => decoded.to_string(),
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
