//! `reel demo`: the whole loop on the bundled bookshop app, no services needed.
//!
//! It records a scripted session of the demo app and its pricing service,
//! generates a suite, stops the real pricing service, replays with mocks in its
//! place (all pass), then replays against a changed build of the app and shows
//! the diffs, leaving pending snapshots and an HTML report to look at.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use reel_core::generate::{generate_into, shell_quote, Options};
use reel_core::suite::load_suite;
use reel_core::{Store, StoreWriter};
use reel_proxy::server::{DependencyKind, DependencySpec, DEFAULT_BODY_CAP};
use reel_proxy::{Recorder, RecorderConfig, Upstream};
use reel_replay::runner::RunConfig;
use reel_replay::{pending, Outcome};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::args::{DemoAppArgs, DemoArgs};
use crate::{generate as gen_cmd, output, replay};

pub fn run_app(args: DemoAppArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("demo app: cannot listen on {}", args.listen))?;
        reel_fixtures::bin_support::announce(&listener)?;
        let cfg = reel_fixtures::AppConfig {
            pricing_url: args.pricing_url,
            variant: args.variant,
            cache: None,
        };
        let stop = reel_fixtures::bin_support::shutdown_signal()?;
        reel_fixtures::demo_app::serve(listener, cfg, stop).await
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => d,
        None => tempfile::Builder::new()
            .prefix("reel-demo-")
            .tempdir()?
            .keep()
            .join("suite"),
    };
    let store_dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(demo(&dir, &store_dir.path().join("reel.db")))
}

fn step(n: u32, text: &str) {
    let (b, r) = if output::colour() {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("", "")
    };
    out!("\n{b}{n}. {text}{r}");
}

async fn demo(dir: &Path, store_path: &Path) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("finding the reel binary")?;

    step(
        1,
        "Recording the demo bookshop and its pricing service through reel",
    );
    let pricing_listener = TcpListener::bind("127.0.0.1:0").await?;
    let pricing_addr = pricing_listener.local_addr()?;
    let (stop_pricing, pricing_stopped) = oneshot::channel::<()>();
    let pricing = tokio::spawn(reel_fixtures::pricing::serve(pricing_listener, async {
        let _ = pricing_stopped.await;
    }));
    let app_listener = TcpListener::bind("127.0.0.1:0").await?;
    let app_addr = app_listener.local_addr()?;

    let store = Store::open(store_path)?;
    let (writer, session_id) = StoreWriter::start(store, "demo", &format!("http://{app_addr}"))?;
    let config = RecorderConfig {
        inbound: Some((
            "127.0.0.1:0".into(),
            Upstream::parse("app", &format!("http://{app_addr}"))?,
        )),
        dependencies: vec![DependencySpec {
            name: "pricing".into(),
            listen: "127.0.0.1:0".into(),
            kind: DependencyKind::Http(Upstream::parse(
                "pricing",
                &format!("http://{pricing_addr}"),
            )?),
        }],
        forward: None,
        body_cap: DEFAULT_BODY_CAP,
        redact: false,
        redact_rules: Default::default(),
        limits: Default::default(),
        filter: None,
    };
    let recorder = Recorder::start(config, writer.sender()).await?;
    let inbound = recorder.addrs().inbound.context("inbound address")?;
    let dep_addr = recorder.addrs().dependencies[0].1;
    let pricing_url = format!("http://{dep_addr}");
    let app_cmd: Vec<String> = vec![
        exe.display().to_string(),
        "demo-app".into(),
        "--listen".into(),
        app_addr.to_string(),
        "--pricing-url".into(),
        pricing_url.clone(),
    ];
    writer.sender().set_setup(json!({
        "listen": inbound.to_string(),
        "upstream": format!("http://{app_addr}"),
        "dependencies": [{"name": "pricing", "protocol": "http", "listen": dep_addr.to_string()}],
        "app": app_cmd,
    }));
    let (stop_app, app_stopped) = oneshot::channel::<()>();
    let app = tokio::spawn(reel_fixtures::demo_app::serve(
        app_listener,
        reel_fixtures::AppConfig {
            pricing_url,
            variant: reel_fixtures::Variant::Normal,
            cache: None,
        },
        async {
            let _ = app_stopped.await;
        },
    ));

    let sent = reel_fixtures::demo_app::session::drive(&format!("http://{inbound}")).await?;
    let unfinished = recorder.stop(Duration::from_secs(5)).await;
    let stats = writer.finish()?;
    let _ = stop_app.send(());
    let _ = app.await;
    out!(
        "   {sent} requests sent; stored {} inbound and {} outbound exchanges ({} dropped{})",
        stats.inbound,
        stats.outbound,
        stats.dropped,
        if unfinished > 0 {
            ", some unfinished"
        } else {
            ""
        }
    );

    step(2, "Generating a suite from the recording");
    let store = Store::open(store_path)?;
    let session = store
        .session(session_id)?
        .context("the demo session is in the store")?;
    let mut g = generate_into(&store, &session, &Options::default(), dir)?;
    for line in output::printable(&gen_cmd::describe(dir, &mut g)).lines() {
        out!("   {line}");
    }
    // Where `reel generate` keeps them with the default store, so the commands
    // printed at the end work from here as they are.
    let secrets_file = Path::new(".reel/secrets.toml");
    g.secrets.save(secrets_file)?;
    out!(
        "   the login password became ${{secret:PASSWORD}}; its value is in {} (git-ignored)",
        secrets_file.display()
    );

    step(3, "Stopping the real pricing service");
    let _ = stop_pricing.send(());
    let _ = pricing.await;
    out!("   nothing listens on {pricing_addr} any more: replays use reel's mock");

    step(
        4,
        "Replaying the suite against the app, with the pricing mock",
    );
    let suite = load_suite(dir)?;
    let base = RunConfig {
        secrets: g.secrets.values().clone(),
        ..RunConfig::default()
    };
    let first = replay::run(&suite, &base).await?.report()?;
    let fails = output::failures(&first, output::colour());
    if !fails.is_empty() {
        out!("{fails}");
    }
    out!("   {}", output::closing_line(&first));

    step(
        5,
        "Replaying against a changed app: `author` renamed, quotes 10% up",
    );
    let changed_cmd = format!(
        "{} --variant changed",
        suite
            .suite
            .app
            .command
            .clone()
            .context("the demo suite has an app command")?
    );
    let cfg = RunConfig {
        app: Some(changed_cmd.clone()),
        ..base.clone()
    };
    let second = replay::run(&suite, &cfg).await?.report()?;
    out!("{}", output::failures(&second, output::colour()));
    for case in &suite.cases {
        if let Some(r) = second
            .cases
            .iter()
            .find(|r| r.file == case.path && r.outcome == Outcome::Failed)
        {
            pending::write(case, r)?;
        }
    }
    let settings = reel_replay::review::RunSettings::of(&cfg);
    reel_replay::review::save_run(dir, &second, Some(settings))?;
    let report = dir.join("report.html");
    reel_replay::report::write_html(&second, &report)?;
    out!("   {}", output::closing_line(&second));

    let quoted_dir = shell_quote(&dir.display().to_string());
    out!();
    out!("Suite:        {}", dir.display());
    out!("HTML report:  {}", report.display());
    out!("Review the changes one by one:  reel review {quoted_dir}");
    out!(
        "Or in a browser:                reel review {quoted_dir} --web --app {}",
        shell_quote(&changed_cmd)
    );
    out!("Or accept them all:             reel accept {quoted_dir} --all");
    out!(
        "Then replay the changed app:    reel test {quoted_dir} --app {}",
        shell_quote(&changed_cmd)
    );
    let as_planned = first.failed == 0 && first.passed > 0 && second.failed > 0;
    Ok(if as_planned {
        ExitCode::SUCCESS
    } else {
        eprintln!("reel demo: the replays did not go as planned (see above)");
        ExitCode::from(1)
    })
}
