//! `reel import har FILE` and `reel import keploy DIR`: traffic another
//! tool saved, as a session in the store, ready for `reel generate`; `reel export har SESSION`: a recorded
//! session for other tools.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use reel_core::{Direction, Store, StoreWriter};

use crate::args::{ExportArgs, ExportFormat, ImportArgs, ImportFormat};
use crate::output::printable;

pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let stem = |p: &Path, or: &str| {
        p.file_stem()
            .map_or_else(|| or.to_owned(), |s| s.to_string_lossy().into_owned())
    };
    let (har, name, file, format) = match args.format {
        ImportFormat::Har {
            file,
            session,
            app_host,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let har = reel_core::har::read(&bytes, app_host.as_deref())
                .with_context(|| format!("{} is not a HAR file reel can take", file.display()))?;
            let name = session.unwrap_or_else(|| stem(&file, "har"));
            (har, name, file, "har")
        }
        ImportFormat::Keploy { dir, session } => {
            let set = reel_core::keploy::read(&dir)?;
            let name = session.unwrap_or_else(|| stem(&dir, "keploy"));
            (set, name, dir, "keploy")
        }
    };
    let store = Store::open(&args.store.store)?;
    let (writer, id) = StoreWriter::start(store, &name, &har.app)?;
    let sender = writer.sender();
    sender.set_setup(har.setup(format, &file));
    let (mut inbound, mut outbound) = (0, 0);
    for x in har.exchanges {
        match x.direction {
            Direction::Inbound => inbound += 1,
            Direction::Outbound => outbound += 1,
        }
        if !sender.send_waiting(x) {
            break;
        }
    }
    let stats = writer.finish()?;
    if stats.stored < inbound + outbound {
        anyhow::bail!(
            "stored {} of {} entries into {}: the store writer stopped (see the log)",
            stats.stored,
            inbound + outbound,
            args.store.store.display()
        );
    }
    out!(
        "Imported {} entries of {} into session {id} \"{}\" in {}",
        inbound + outbound,
        printable(&file.display().to_string()),
        printable(&name),
        args.store.store.display()
    );
    let how = if har.app_guessed {
        " (the host most entries go to; pick another with --app-host)"
    } else {
        ""
    };
    out!(
        "  app under test: {}{how}: {inbound} inbound",
        printable(&har.app)
    );
    for d in &har.dependencies {
        if d.at.is_empty() {
            let var = reel_core::env::dep_var(&d.name);
            out!(
                "  dependency '{}' ({}): its calls are outbound; the source kept no address, so replay's mock listens on a free port the app finds in ${var} (host:port) and ${var}_URL",
                printable(&d.name),
                printable(&d.scheme),
            );
            continue;
        }
        out!(
            "  dependency '{}' at {}: its calls are outbound; replay's mock listens at {}",
            printable(&d.name),
            printable(&d.origin()),
            printable(&d.mock_address())
        );
    }
    if outbound > 0 {
        out!(
            "  generate places each call in the request whose time window holds it{}",
            if format == "har" {
                " (a HAR does not say which request made which call)"
            } else {
                ""
            }
        );
    }
    for n in &har.notes {
        out!("  note: {n}");
    }
    if !har.skipped.is_empty() {
        out!("  left out ({}):", har.skipped.len());
        for s in &har.skipped {
            out!("    {}", printable(s));
        }
    }
    out!("Next: reel generate {} --out reel/suite", printable(&name));
    Ok(ExitCode::SUCCESS)
}

pub fn export(
    args: ExportArgs,
    rules: reel_core::secrets::SecretRules,
) -> anyhow::Result<ExitCode> {
    let ExportFormat::Har {
        session,
        output,
        include_secrets,
    } = args.format;
    let store = Store::open_existing(&args.store.store, false)?;
    let s = store.find_session(&session)?.session;
    let exchanges = store.exchanges(s.id)?;
    let mut secrets = reel_core::secrets::Secrets::with_rules(rules);
    let (har, other) =
        reel_core::har::write(&s, &exchanges, (!include_secrets).then_some(&mut secrets));
    let text = serde_json::to_string_pretty(&har)? + "\n";
    let entries = har["log"]["entries"].as_array().map_or(0, Vec::len);
    match &output {
        Some(path) => {
            reel_core::files::replace(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            out!(
                "Wrote {entries} entries of session {} \"{}\" to {}",
                s.id,
                printable(&s.name),
                path.display()
            );
        }
        None => out_part!("{text}"),
    }
    let to_stderr = output.is_none();
    let note = |line: String| match to_stderr {
        true => eprintln!("{line}"),
        false => out!("{line}"),
    };
    if other > 0 {
        note(format!(
            "  {other} exchanges of other protocols (Postgres, Redis, MySQL) left out: HAR holds HTTP only"
        ));
    }
    if !include_secrets && !secrets.is_empty() {
        note(format!(
            "  {} credentials written as placeholders (--include-secrets keeps them)",
            secrets.values().len()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
