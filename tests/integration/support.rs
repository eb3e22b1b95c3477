//! Shared test support: finding and running the real `reel` binary, polling
//! with deadlines, and the in-process demo services.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The `reel` binary cargo built next to this test binary (or `REEL_BIN`).
pub fn reel_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("REEL_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("reel");
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build --workspace --bins --features reel-fixtures/pg; scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Runs `reel ARGS` to completion.
pub fn reel(args: &[&str]) -> std::process::Output {
    Command::new(reel_bin())
        .args(args)
        .env("REEL_LOG", "warn")
        .output()
        .expect("running reel")
}

/// `reel generate SESSION --out SUITE --store STORE --verify 2`: its exit
/// code and all it printed.
pub fn generate_verified(session: &str, suite: &Path, store: &Path) -> (Option<i32>, String) {
    let out = generate_into(session, suite, store, &["--verify", "2"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), said)
}

/// Runs `cmd` to its end and asserts it succeeded, showing what it said on
/// stderr when it did not.
pub fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Polls `check` until it returns `Some` or the deadline passes.
pub async fn poll<T>(
    what: &str,
    deadline: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `reel record` process and the addresses it announced.
pub struct Recording {
    pub child: tokio::process::Child,
    pub inbound: SocketAddr,
    pub deps: Vec<(String, SocketAddr)>,
    pub http_proxy: Option<SocketAddr>,
    stderr_tail: tokio::task::JoinHandle<String>,
}

impl Recording {
    /// Starts `reel record ARGS` and waits (with a deadline) for its listening line.
    pub async fn start(args: &[String]) -> anyhow::Result<Self> {
        Self::start_with_env(args, &[]).await
    }

    pub async fn start_with_env(args: &[String], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_in(Path::new("."), args, env).await
    }

    /// `reel record ARGS` run in `dir` (where it looks for reel.toml).
    pub async fn start_in(
        dir: &Path,
        args: &[String],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(reel_bin())
            .current_dir(dir)
            .arg("record")
            .args(args)
            .envs(env.iter().copied())
            .env("REEL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawning reel record")?;
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = String::new();
        let line = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(l) = lines.next_line().await? {
                if l.starts_with("reel: listening") {
                    return Ok(l);
                }
                seen.push_str(&l);
                seen.push('\n');
            }
            bail!("reel exited before listening:\n{seen}")
        })
        .await
        .context("reel did not announce its addresses in 30 s")??;
        let stderr_tail = tokio::spawn(async move {
            let mut rest = String::new();
            while let Ok(Some(l)) = lines.next_line().await {
                rest.push_str(&l);
                rest.push('\n');
            }
            rest
        });
        let mut inbound = None;
        let mut deps = Vec::new();
        let mut http_proxy = None;
        for field in line.split_whitespace().skip(2) {
            let (k, v) = field.split_once('=').context("bad listening line")?;
            let addr: SocketAddr = v.parse()?;
            match k {
                "inbound" => inbound = Some(addr),
                "http-proxy" => http_proxy = Some(addr),
                k => deps.push((k.trim_start_matches("dep:").to_owned(), addr)),
            }
        }
        Ok(Recording {
            child,
            inbound: inbound.context("no inbound address")?,
            deps,
            http_proxy,
            stderr_tail,
        })
    }

    pub fn dep(&self, name: &str) -> SocketAddr {
        self.deps.iter().find(|(n, _)| n == name).expect("dep").1
    }

    /// Sends SIGINT and waits for the summary. Returns (exit code, stdout, stderr).
    pub async fn interrupt(self) -> (i32, String, String) {
        let pid = nix::unistd::Pid::from_raw(self.child.id().unwrap() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let out = tokio::time::timeout(Duration::from_secs(30), self.child.wait_with_output())
            .await
            .expect("reel stopped within 30 s of SIGINT")
            .unwrap();
        let stderr = self.stderr_tail.await.unwrap_or_default();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        )
    }
}

/// A demo service served in-process until dropped or stopped.
pub struct Served {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Served {
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = (&mut self.task).await;
    }
}

pub async fn serve_pricing() -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_pricing_on(listener)
}

pub fn serve_pricing_on(listener: TcpListener) -> Served {
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(reel_fixtures::pricing::serve(listener, async {
        let _ = rx.await;
    }));
    Served {
        addr,
        stop: Some(tx),
        task,
    }
}

pub fn serve_app_on(listener: TcpListener, pricing_url: String) -> Served {
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let cfg = reel_fixtures::demo_app::AppConfig {
        pricing_url,
        variant: reel_fixtures::demo_app::Variant::Normal,
        cache: None,
    };
    let task = tokio::spawn(reel_fixtures::demo_app::serve(listener, cfg, async {
        let _ = rx.await;
    }));
    Served {
        addr,
        stop: Some(tx),
        task,
    }
}

/// Binds `addr` again once the previous listener on it is gone.
pub async fn rebind(addr: SocketAddr) -> TcpListener {
    poll(
        "the port to be free again",
        Duration::from_secs(10),
        async || TcpListener::bind(addr).await.ok(),
    )
    .await
}

/// A free loopback port for an app reel starts to take (bound, then
/// released). Taken below Linux's ephemeral range (32768 up): a port from
/// that range, released, can be handed to any process binding port 0
/// meanwhile (another test's mock or recorder), and `generate --verify`
/// restarts the app on its port several times. Seen: the app's port taken
/// between two verify runs, the app unable to listen, and the check for
/// its port answered by the other process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 32_768 - LOW;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let start = std::process::id().wrapping_mul(7_919) ^ nanos;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + start.wrapping_add(n.wrapping_mul(7_901)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {LOW} and 32767");
}

/// The arguments of `reel record` for the app `sh -c APP` on `app_port`, each
/// of `deps` a `--dep`, recording session `session` into `store`.
pub fn record_args(
    app_port: u16,
    deps: &[String],
    session: &str,
    store: &Path,
    app: &str,
) -> Vec<String> {
    let mut args = vec![
        "--upstream".into(),
        format!("http://127.0.0.1:{app_port}"),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    for d in deps {
        args.extend(["--dep".into(), d.clone()]);
    }
    args.extend([
        "--session".into(),
        session.into(),
        "--store".into(),
        store.to_str().unwrap().into(),
    ]);
    args.extend(["--", "sh", "-c", app].map(str::to_owned));
    args
}

/// A client that never goes through a system proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// `reel sessions show NAME --json` as JSON.
pub fn session_json(store: &Path, name: &str) -> serde_json::Value {
    let out = reel(&[
        "sessions",
        "show",
        name,
        "--json",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "sessions show failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("sessions show --json prints JSON")
}

/// Decodes a body object of `sessions show --json`.
pub fn body_bytes(body: &serde_json::Value) -> Vec<u8> {
    use base64::Engine as _;
    let data = body["data"].as_str().expect("body data");
    match body["encoding"].as_str() {
        Some("text") => data.as_bytes().to_vec(),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("valid base64"),
        other => panic!("unknown body encoding {other:?}"),
    }
}

/// The demo app and its pricing service behind a real `reel record`, the app
/// reaching pricing through reel's `pricing` dependency recorder.
pub struct DemoRecording {
    pub rec: Recording,
    pub app: Served,
    pub pricing: Served,
    pub app_addr: SocketAddr,
    pub store: PathBuf,
    /// The pricing URL the app uses (reel's dependency recorder).
    pub pricing_via_reel: String,
}

pub async fn record_demo(dir: &Path, session: &str, extra: &[&str]) -> DemoRecording {
    let store = dir.join("reel.db");
    let pricing = serve_pricing().await;
    let app_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = app_listener.local_addr().unwrap();
    let mut args: Vec<String> = vec![
        "--upstream".into(),
        format!("http://{app_addr}"),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--dep".into(),
        format!("pricing=http:127.0.0.1:0=http://{}", pricing.addr),
        "--session".into(),
        session.into(),
        "--store".into(),
        store.to_str().unwrap().into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let rec = Recording::start(&args).await.unwrap();
    let pricing_via_reel = format!("http://{}", rec.dep("pricing"));
    let app = serve_app_on(app_listener, pricing_via_reel.clone());
    DemoRecording {
        rec,
        app,
        pricing,
        app_addr,
        store,
        pricing_via_reel,
    }
}

impl DemoRecording {
    pub fn base(&self) -> String {
        format!("http://{}", self.rec.inbound)
    }

    /// Stops reel with SIGINT (asserting a clean exit), then the services.
    pub async fn stop(self) -> String {
        let (code, out, err) = self.rec.interrupt().await;
        self.app.stop().await;
        self.pricing.stop().await;
        assert_eq!(code, 0, "reel record failed:\n{out}\n{err}");
        out
    }
}

/// `reel generate SESSION --out DIR/suite --store STORE`, asserting success.
/// Returns the suite folder and what generate printed.
pub fn generate_suite(dir: &Path, session: &str, store: &Path) -> (PathBuf, String) {
    generate_suite_with(dir, session, store, &[])
}

/// [`generate_suite`] with more flags, such as `--config PATH`.
pub fn generate_suite_with(
    dir: &Path,
    session: &str,
    store: &Path,
    flags: &[&str],
) -> (PathBuf, String) {
    let suite = dir.join("suite");
    let out = generate_into(session, &suite, store, flags);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (suite, stdout)
}

/// `reel generate SESSION --out SUITE --store STORE FLAGS...`.
fn generate_into(
    session: &str,
    suite: &Path,
    store: &Path,
    flags: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "generate",
        session,
        "--out",
        suite.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ];
    args.extend_from_slice(flags);
    reel(&args)
}

/// The names of the cases `reel test` printed as failed
/// (`FAIL NAME  METHOD TARGET`: two spaces end the name, which may hold one).
pub fn failed_cases(stdout: &str) -> std::collections::BTreeSet<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL "))
        .filter_map(|l| l.split("  ").next())
        .map(str::to_owned)
        .collect()
}

/// A server certificate for `localhost` signed by a private CA made for
/// one test (openssl), valid for a day.
pub struct PrivateCa {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA's certificate, for clients to trust (`SSL_CERT_FILE`).
    pub ca: PathBuf,
}

/// Makes a [`PrivateCa`] in `dir`.
pub fn private_ca(dir: &Path) -> PrivateCa {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let steps: [Vec<String>; 3] = [
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=reel-test-ca",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["-keyout".into(), p("ca.key"), "-out".into(), p("ca.pem")])
        .collect(),
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["-keyout".into(), p("key.pem"), "-out".into(), p("leaf.csr")])
        .collect(),
        vec![
            "x509".into(),
            "-req".into(),
            "-days".into(),
            "1".into(),
            "-in".into(),
            p("leaf.csr"),
            "-CA".into(),
            p("ca.pem"),
            "-CAkey".into(),
            p("ca.key"),
            "-CAcreateserial".into(),
            "-extfile".into(),
            p("leaf.ext"),
            "-out".into(),
            p("cert.pem"),
        ],
    ];
    for args in steps {
        let ok = std::process::Command::new("openssl")
            .args(&args)
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed");
        assert!(ok.success(), "openssl {args:?}");
    }
    PrivateCa {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        ca: dir.join("ca.pem"),
    }
}
