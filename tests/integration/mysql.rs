//! Recording a MySQL/MariaDB dependency, end to end: real clients (PyMySQL,
//! aiomysql with a pool, Node's mysql2 with prepared statements, the
//! `mariadb` command-line client) talk to the local MariaDB through `reel
//! record --dep NAME=mysql:...`, read back what they read directly, and
//! the store holds the connection phase and each command with its whole
//! answer.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// `reel record` with the MySQL dependency `db` in front of the local
/// MariaDB, no app, into `store`.
async fn record_mysql(store: &Path, extra: &[&str]) -> Recording {
    let mut args: Vec<String> = vec![
        "--upstream".into(),
        format!("http://127.0.0.1:{}", free_port()),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--dep".into(),
        "db=mysql:127.0.0.1:0=mysql://127.0.0.1:3306".into(),
        "--session".into(),
        "db".into(),
        "--store".into(),
        store.to_str().unwrap().into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    Recording::start(&args).await.unwrap()
}

/// A table name no other test uses.
fn table(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("reel_{prefix}_{}_{nanos}", std::process::id())
}

/// Runs `program script ADDR TABLE` (`script` from fixtures/mysql, none
/// when empty); what it printed.
async fn workload(program: &str, script: &str, addr: &str, t: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = tokio::process::Command::new(program);
    if !script.is_empty() {
        cmd.arg(root.join("fixtures/mysql").join(script));
    }
    let out = cmd
        .arg(addr)
        .arg(t)
        .env("NODE_PATH", root.join("fixtures/real-apps/node_modules"))
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/deps.sh installs the clients)"));
    assert!(
        out.status.success(),
        "{script} failed against {addr}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `mysql` exchanges of the stored session `db`, in order.
fn mysql_exchanges(store: &Path) -> Vec<Value> {
    let s = session_json(store, "db");
    s["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["protocol"] == "mysql")
        .cloned()
        .collect()
}

fn command(e: &Value) -> &str {
    e["request"]["decoded"]["command"].as_str().unwrap_or("")
}

fn sql(e: &Value) -> &str {
    e["request"]["decoded"]["sql"].as_str().unwrap_or("")
}

/// PyMySQL, an aiomysql pool and mysql2 through the recorder read back
/// exactly what they read from MariaDB directly; every command is stored
/// with its whole answer, on the connection it was sent on, and nothing is
/// left unanswered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_through_the_recorder_read_what_they_read_directly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_mysql(&store, &[]).await;
    let via = rec.dep("db").to_string();
    for (program, script) in [("python3", "workload.py"), ("node", "workload.js")] {
        let direct = workload(program, script, "127.0.0.1:3306", &table("direct")).await;
        let recorded = workload(program, script, &via, &table("rec")).await;
        assert_eq!(recorded, direct, "{script}");
    }
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");

    let ex = mysql_exchanges(&store);
    for e in &ex {
        assert_eq!(e["dependency"], "db");
        assert!(e["error"].is_null(), "{e}");
    }
    // PyMySQL's connection, the pool's three, mysql2's: five connection
    // phases, each first on its connection and ended by the server's OK.
    let connects: Vec<&Value> = ex.iter().filter(|e| command(e) == "connect").collect();
    assert_eq!(connects.len(), 5, "{connects:#?}");
    for c in &connects {
        assert_eq!(c["request"]["decoded"]["user"], "root");
        assert!(c["response"]["decoded"]["ok"].is_object(), "{c}");
        let greeting = &c["response"]["decoded"]["greeting"];
        let offered = greeting["capabilities"].as_u64().unwrap();
        assert_eq!(offered & (1 << 11), 0, "TLS is withdrawn: {greeting}");
        let first = ex
            .iter()
            .find(|e| e["connection"] == c["connection"])
            .unwrap();
        assert_eq!(command(first), "connect");
    }
    let many = ex
        .iter()
        .find(|e| sql(e) == "SELECT seq FROM seq_1_to_10000")
        .unwrap();
    let set = &many["response"]["decoded"]["results"][0];
    assert_eq!(set["rows"].as_array().unwrap().len(), 10_000);
    assert_eq!(set["rows"][9_999], serde_json::json!(["10000"]));
    let dup = ex
        .iter()
        .find(|e| !e["response"]["decoded"]["error"].is_null())
        .expect("the duplicate key's ERR");
    assert_eq!(dup["response"]["decoded"]["error"]["code"], 1062);
    let call = ex.iter().find(|e| sql(e).starts_with("CALL ")).unwrap();
    assert_eq!(
        call["response"]["decoded"]["results"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The pool's six queries each went out on one of its connections.
    let pooled: Vec<&Value> = ex
        .iter()
        .filter(|e| sql(e).starts_with("SELECT name FROM reel_rec_"))
        .collect();
    assert_eq!(pooled.len(), 6);
    // mysql2's executes read as their SQL and values.
    let executes: Vec<&Value> = ex
        .iter()
        .filter(|e| command(e) == "COM_STMT_EXECUTE")
        .collect();
    assert_eq!(executes.len(), 3, "{executes:#?}");
    assert!(sql(executes[0]).starts_with("INSERT INTO reel_rec_"));
    assert_eq!(
        executes[0]["request"]["decoded"]["params"],
        serde_json::json!([42.0, "x", {"base64": "AP8="}])
    );
    let rows = &executes[2]["response"]["decoded"]["results"][0]["rows"];
    assert_eq!(
        *rows,
        serde_json::json!([[1, 42, "x", {"base64": "AP8="}], [2, 7, null, null]])
    );
    assert!(ex.iter().any(|e| command(e) == "COM_STMT_CLOSE"));
    assert!(ex.iter().any(|e| command(e) == "COM_QUIT"));
}

/// The `mariadb` client through the recorder; with `--redact` its
/// password's scramble is stored neither decoded nor raw. One that insists
/// on TLS is told, in reel's log, what to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mariadb_client_is_recorded_without_its_scramble_under_redact() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_mysql(&store, &["--redact"]).await;
    let port = rec.dep("db").port().to_string();
    let base = ["-h", "127.0.0.1", "-P", &port, "-u", "root"];
    let plain = tokio::process::Command::new("mariadb")
        .args(base)
        .args(["--skip-ssl", "test", "-e", "SELECT 40 + 2 AS answer"])
        .output()
        .await
        .unwrap();
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "answer\n42\n");
    let tls = tokio::process::Command::new("mariadb")
        .args(base)
        .args([
            "--ssl",
            "--ssl-verify-server-cert",
            "test",
            "-e",
            "SELECT 1",
        ])
        .output()
        .await
        .unwrap();
    assert!(!tls.status.success(), "a client that insists on TLS fails");
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("if it requires TLS"), "{stderr}");

    let ex = mysql_exchanges(&store);
    let connect = ex.iter().find(|e| command(e) == "connect").unwrap();
    let decoded = &connect["request"]["decoded"];
    assert!(decoded.get("auth_response").is_none(), "{decoded}");
    let raw = &connect["request"]["raw"];
    assert!(raw["size"].as_u64().unwrap() > 0, "{connect}");
    assert!(body_bytes(raw).is_empty(), "no byte of it is stored: {raw}");
    let query = ex
        .iter()
        .find(|e| sql(e) == "SELECT 40 + 2 AS answer")
        .unwrap();
    assert_eq!(
        query["response"]["decoded"]["results"][0]["rows"],
        serde_json::json!([["42"]])
    );
}

/// Runs `sql` on the local MariaDB as root; its output, or the error.
fn mariadb_root(sql: &str) -> Result<String, String> {
    let out = std::process::Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "--skip-ssl",
            "-N",
            "-e",
            sql,
        ])
        .output()
        .unwrap();
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

/// MariaDB's `ed25519` authentication passes through the recorder
/// untouched: the server switches the `mariadb` client to
/// `client_ed25519`, which signs the scramble, and the login and a query
/// succeed through reel. With `--redact` neither the signature nor any
/// other byte of the login is stored. Then the mock made of the recording
/// lets the same client in (it switches it to a plugin it can complete)
/// and answers the query as MariaDB did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ed25519_login_passes_through_untouched_and_replays() {
    use reel_replay::mock::mysql::serve;
    use reel_replay::mock::mysql_book::MysqlBook;
    // The plugin ships with the server; loaded once, left loaded (it
    // changes nothing for other users).
    let loaded = mariadb_root(
        "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'ed25519'",
    )
    .unwrap();
    if loaded == "0" {
        if let Err(e) = mariadb_root("INSTALL SONAME 'auth_ed25519'") {
            // Another test run loaded it meanwhile.
            assert!(e.contains("already"), "{e}");
        }
    }
    let user = table("ed");
    let password = "ed-5ecret-pass";
    mariadb_root(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('{password}'); \
         GRANT SELECT ON test.* TO '{user}'@'%'"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_mysql(&store, &["--redact"]).await;
    let port = rec.dep("db").port().to_string();
    let login = |port: String| {
        let user = user.clone();
        async move {
            tokio::process::Command::new("mariadb")
                .args(["-h", "127.0.0.1", "-P", &port, "-u", &user])
                .arg(format!("-p{password}"))
                .args([
                    "--skip-ssl",
                    "test",
                    "-e",
                    "SELECT CURRENT_USER() AS who, 6 * 7 AS n",
                ])
                .output()
                .await
                .unwrap()
        }
    };
    let through = login(port).await;
    let (code, _, stderr) = rec.interrupt().await;
    let _ = mariadb_root(&format!("DROP USER '{user}'@'%'"));
    assert!(
        through.status.success(),
        "{}",
        String::from_utf8_lossy(&through.stderr)
    );
    let read = String::from_utf8_lossy(&through.stdout).into_owned();
    assert_eq!(read, format!("who\tn\n{user}@%\t42\n"));
    assert_eq!(code, 0, "{stderr}");

    let ex = mysql_exchanges(&store);
    let connect = ex.iter().find(|e| command(e) == "connect").unwrap();
    let text = connect.to_string();
    assert!(
        text.contains("client_ed25519"),
        "the server switched the client: {text}"
    );
    let raw = &connect["request"]["raw"];
    assert!(raw["size"].as_u64().unwrap() > 0, "{connect}");
    assert!(
        body_bytes(raw).is_empty(),
        "no byte of the login is stored: {raw}"
    );
    assert!(
        !std::fs::read(&store)
            .unwrap()
            .windows(password.len())
            .any(|w| w == password.as_bytes()),
        "the password is nowhere in the store"
    );

    let book = std::sync::Arc::new(MysqlBook::new(Vec::new(), lines_of(&store)));
    let mock = serve("db", "127.0.0.1:0", book).await.unwrap();
    let again = login(mock.addr.port().to_string()).await;
    mock.stop().await;
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        read,
        "from the mock"
    );
}

/// `LOAD DATA LOCAL INFILE` through the recorder: the file's content is
/// stored with the query, cut at `--max-body` with its whole size kept,
/// and the server's OK after it pairs with the same exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_file_is_stored_with_its_query_cut_at_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let csv = dir.path().join("rows.csv");
    let lines: String = (1..=2000).map(|i| format!("{i},name-{i}\n")).collect();
    std::fs::write(&csv, &lines).unwrap();
    let rec = record_mysql(&store, &["--max-body", "1K"]).await;
    let t = table("infile");
    let script = "import sys, pymysql\n\
        host, port = sys.argv[1].rsplit(':', 1)\n\
        t = sys.argv[2]\n\
        c = pymysql.connect(host=host, port=int(port), user='root', database='test', local_infile=True)\n\
        cur = c.cursor()\n\
        cur.execute(f'CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20))')\n\
        try:\n\
        \x20   cur.execute(f\"LOAD DATA LOCAL INFILE '{sys.argv[3]}' INTO TABLE {t} FIELDS TERMINATED BY ','\")\n\
        \x20   cur.execute(f'SELECT COUNT(*) FROM {t}')\n\
        \x20   print(cur.fetchone()[0])\n\
        finally:\n\
        \x20   cur.execute(f'DROP TABLE {t}')\n\
        \x20   c.close()\n";
    let out = tokio::process::Command::new("python3")
        .args(["-c", script, &rec.dep("db").to_string(), &t])
        .arg(&csv)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2000");
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");

    let ex = mysql_exchanges(&store);
    let load = ex
        .iter()
        .find(|e| sql(e).starts_with("LOAD DATA LOCAL INFILE"))
        .unwrap();
    let request = &load["request"]["decoded"];
    assert_eq!(request["infile_size"], lines.len());
    let kept = request["infile"].as_str().unwrap();
    assert!(kept.len() <= 1024 && lines.starts_with(kept), "{kept}");
    assert!(
        load["request"]["raw"]["truncated"] == true,
        "{}",
        load["request"]["raw"]
    );
    let answer = &load["response"]["decoded"];
    assert_eq!(answer["infile"], csv.to_str().unwrap());
    assert_eq!(answer["results"][0]["ok"]["affected_rows"], 2000);
    assert!(load["error"].is_null());
}

/// A client that sends what is no MySQL (a broken handshake answer, a
/// packet cut off by its disconnect) loses its own connection, with a log
/// line naming what broke and where; the connection phase it began is
/// stored with that error, and another client goes on being recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_client_closes_only_its_own_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_mysql(&store, &[]).await;
    let addr = rec.dep("db");
    // Reads the greeting, then sends `bytes` and hangs up; what came back.
    let broken = |bytes: Vec<u8>| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut header = [0u8; 4];
        s.read_exact(&mut header).await.unwrap();
        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        let mut greeting = vec![0u8; len];
        s.read_exact(&mut greeting).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut rest))
            .await;
        rest
    };
    // A handshake answer of three bytes: shorter than its fixed fields.
    broken(b"\x03\x00\x00\x01abc".to_vec()).await;
    // A header promising 100 bytes, then 10 and the end.
    let mut cut = vec![100, 0, 0, 1];
    cut.extend_from_slice(&[0; 10]);
    broken(cut).await;
    let ok = tokio::process::Command::new("python3")
        .args([
            "-c",
            "import sys, pymysql\nh, p = sys.argv[1].rsplit(':', 1)\nc = pymysql.connect(host=h, port=int(p), user='root', database='test')\ncur = c.cursor(); cur.execute('SELECT 6 * 7'); print(cur.fetchone()[0]); c.close()",
            &addr.to_string(),
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "42",
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "malformed command from the client at byte 0: the payload ends before the capability flags"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("malformed packet from the client at byte 0: the stream ended with 90 bytes of the packet still to come"),
        "{stderr}"
    );
    let ex = mysql_exchanges(&store);
    let failed: Vec<&Value> = ex.iter().filter(|e| !e["error"].is_null()).collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert!(
        failed
            .iter()
            .all(|e| command(e) == "connect" || e["request"]["decoded"]["command"].is_null()),
        "{failed:#?}"
    );
    assert!(ex
        .iter()
        .any(|e| sql(e) == "SELECT 6 * 7" && e["error"].is_null()));
}

/// The lines `reel generate` makes of the stored session `db`, in order.
fn lines_of(store: &Path) -> Vec<reel_core::suite::MysqlMock> {
    use reel_core::generate::mysql::{line, Line};
    let store = reel_core::Store::open(store).unwrap();
    let session = store.find_session("db").unwrap();
    let mut lines = Vec::new();
    for (n, e) in store
        .exchanges(session.session.id)
        .unwrap()
        .iter()
        .enumerate()
    {
        if e.protocol != reel_core::Protocol::Mysql {
            continue;
        }
        match line(e) {
            Line::Mock(mut m) => {
                m.id = format!("pool#{}", n + 1);
                m.check().unwrap_or_else(|err| panic!("{err}: {m:?}"));
                lines.push(*m);
            }
            Line::Skip => {}
            Line::Unanswered(why) => panic!("{why}"),
        }
    }
    lines
}

/// PyMySQL with an aiomysql pool, mysql2 with prepared statements and
/// sqlx (a pool of three, every statement prepared, DEPRECATE_EOF), run
/// against the mock made of their own recording with MariaDB out of the
/// way, read back what they read from MariaDB: result sets in the text
/// and binary protocols, an insert's id, a duplicate key's error, a
/// procedure's two results, 10,000 rows; a changed statement gets an ERR
/// naming the nearest recorded one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_read_back_from_the_mock_what_the_server_answered() {
    use reel_replay::mock::mysql::serve;
    use reel_replay::mock::mysql_book::MysqlBook;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_mysql(&store, &[]).await;
    let via = rec.dep("db").to_string();
    let mut recorded = Vec::new();
    let sqlx = crate::postgres::sibling_bin("reel-mysql-client");
    let sqlx = sqlx.to_str().unwrap();
    for (program, script) in [
        ("python3", "workload.py"),
        ("node", "workload.js"),
        (sqlx, ""),
    ] {
        let t = table("mock");
        let read = workload(program, script, &via, &t).await;
        recorded.push((program, script, t, read));
    }
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(recorded[2].3["count"], 3, "{:?}", recorded[2]);
    // sqlx took up DEPRECATE_EOF: its rows end in an OK, not an EOF.
    let deprecate_eof = 1u64 << 24;
    assert!(mysql_exchanges(&store)
        .iter()
        .any(|e| command(e) == "connect"
            && e["request"]["decoded"]["capabilities"].as_u64().unwrap() & deprecate_eof != 0));
    let lines = lines_of(&store);
    assert!(lines.iter().any(|l| l.cmd == "connect"));
    assert!(lines.iter().any(|l| l.cmd == "COM_STMT_EXECUTE"));

    let book = std::sync::Arc::new(MysqlBook::new(Vec::new(), lines));
    let mock = serve("db", "127.0.0.1:0", book.clone()).await.unwrap();
    let addr = mock.addr.to_string();
    for (program, script, t, read) in &recorded {
        let again = workload(program, script, &addr, t).await;
        assert_eq!(&again, read, "{script} against the mock");
    }
    // A statement recorded nowhere: an ERR naming the nearest.
    let out = tokio::process::Command::new("python3")
        .args([
            "-c",
            "import sys, pymysql\nh, p = sys.argv[1].rsplit(':', 1)\nc = pymysql.connect(host=h, port=int(p), user='root', database='test')\ncur = c.cursor()\ntry:\n    cur.execute('SELECT seq FROM seq_1_to_10001')\nexcept pymysql.err.MySQLError as e:\n    print(e.args[0], e.args[1])",
            &addr,
        ])
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("1105 reel: no recorded statement matches COM_QUERY SELECT seq FROM seq_1_to_10001; nearest: pool#"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("SELECT seq FROM seq_1_to_10000"), "{said}");
    mock.stop().await;
}

/// Drops the app's tables (`{t}_{name}`) from the real server.
fn drop_tables(t: &str, names: &[&str]) {
    let list: Vec<String> = names.iter().map(|n| format!("{t}_{n}")).collect();
    let _ = std::process::Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-u", "root", "--skip-ssl", "test", "-e"])
        .arg(format!("DROP TABLE IF EXISTS {}", list.join(", ")))
        .output();
}

/// `reel record` of the app `fixtures/mysql/SCRIPT` (run by `program`,
/// its tables named after `t`) with its `db` on the local MariaDB, into
/// `store` as session `shop`; the recording and the app's address through
/// reel, once it answers.
async fn record_app(program: &str, script: &str, t: &str, store: &Path) -> (Recording, String) {
    let app = fixture(script);
    let port = free_port();
    let cmd = format!(
        "DB=\"$REEL_DEP_DB\" NODE_PATH={} exec {program} {} --listen 127.0.0.1:{port} --table {t}",
        fixture("../real-apps/node_modules").display(),
        app.display()
    );
    let args = record_args(
        port,
        &["db=mysql:127.0.0.1:0=127.0.0.1:3306".to_owned()],
        "shop",
        store,
        &cmd,
    );
    let rec = Recording::start(&args).await.unwrap();
    let base = crate::postgres::app_ready(&rec).await;
    (rec, base)
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/mysql")
        .join(name)
}

/// A request to the app at `base`: its status and JSON answer.
async fn call(base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    crate::pg_pools::send(&client(), method, format!("{base}{path}"), None, body).await
}

/// Generates the recorded session `shop`, replays it three times with the
/// app's tables dropped from the server (`passed` cases pass), then with
/// `script` changed (`from` becomes `to`, a statement never recorded): one
/// case fails, naming `to`. What `generate` printed, and the suite.
fn replay_then_change(
    dir: &Path,
    store: &Path,
    script: &str,
    passed: usize,
    (from, to): (&str, &str),
) -> (String, std::path::PathBuf) {
    let (suite, printed) = generate_suite(dir, "shop", store);
    assert!(printed.contains(" mysql"), "{printed}");
    // The server is not asked: its tables are gone, the mock answers.
    for _ in 0..3 {
        let (code, out) = crate::postgres::run_suite(&suite, &[]);
        assert_eq!(code, 0, "{out}\n(generate said:\n{printed})");
        assert!(out.contains(&format!("{passed} passed, 0 failed")), "{out}");
    }
    let app = fixture(script);
    let source = std::fs::read_to_string(&app).unwrap();
    assert!(source.contains(from), "{script} holds {from}");
    let edited = dir.join(script);
    std::fs::write(&edited, source.replace(from, to)).unwrap();
    let suite_json = suite.join("suite.json");
    let s = std::fs::read_to_string(&suite_json).unwrap();
    std::fs::write(
        &suite_json,
        s.replace(&app.display().to_string(), &edited.display().to_string()),
    )
    .unwrap();
    let (code, out) = crate::postgres::run_suite(&suite, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("{} passed, 1 failed", passed - 1)),
        "{out}"
    );
    assert!(
        out.contains(to.trim_matches(['"', '`'])),
        "the miss names the statement sent: {out}"
    );
    (printed, suite)
}

/// An app whose state lives in MariaDB (`fixtures/mysql/app.py`, a pool of
/// PyMySQL connections), recorded, generated, and replayed three times with
/// its tables gone from the server: reel's mock answers every statement
/// (inserts with their ids, a duplicate key's 409, a DECIMAL sum, each
/// write in its transaction), and the UUID and time the app writes into
/// its SQL afresh on each run match by kind. Then the app is changed (a
/// query it never sent when recorded): its case fails, the statement named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_on_mariadb_replays_green_without_its_tables() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let t = table("app");
    let (rec, base) = record_app("python3", "app.py", &t, &store).await;
    let send = |method: &'static str, path: &'static str, body: Option<Value>| {
        call(&base, method, path, body)
    };
    let ann =
        serde_json::json!({"name": "ann", "email": "ann@example.com", "joined": "2024-01-02"});
    assert_eq!(send("POST", "/users", Some(ann.clone())).await.0, 201);
    let bob = serde_json::json!({"name": "bob", "email": "bob@example.com"});
    assert_eq!(send("POST", "/users", Some(bob)).await.0, 201);
    let (status, v) = send("POST", "/users", Some(ann)).await;
    assert_eq!(status, 409, "{v}");
    for amount in ["12.50", "7.25"] {
        let order = serde_json::json!({"user": 1, "amount": amount});
        assert_eq!(send("POST", "/orders", Some(order)).await.0, 201);
    }
    let (status, v) = send("GET", "/users/1/total", None).await;
    assert_eq!(
        (status, &v),
        (200, &serde_json::json!({"orders": 2, "total": "19.75"}))
    );
    let (_, v) = send("GET", "/users/1", None).await;
    assert_eq!(v["joined"], "2024-01-02");
    assert_eq!(send("GET", "/users/9", None).await.0, 404);
    assert_eq!(
        send("GET", "/users", None).await.1.as_array().map(Vec::len),
        Some(2)
    );
    let (code, out, err) = rec.interrupt().await;
    drop_tables(&t, &["users", "orders", "codes"]);
    assert_eq!(code, 0, "{out}{err}");

    let change = (
        "FROM {T}_users ORDER BY id\"",
        "FROM {T}_users ORDER BY name\"",
    );
    let (printed, suite) = replay_then_change(dir.path(), &store, "app.py", 10, change);
    let lines = crate::postgres::mock_lines(&suite);
    let orders: Vec<&str> = lines
        .iter()
        .filter(|l| l["protocol"] == "mysql")
        .filter_map(|l| l["sql"].as_str())
        .filter(|s| s.contains("_orders (user_id"))
        .collect();
    assert_eq!(orders.len(), 2, "{printed}");
    for sql in orders {
        assert!(
            sql.contains(r#"'{"$reel":"uuid"}', '{"$reel":"timestamp"}')"#),
            "{sql}\n{printed}"
        );
    }
}

/// The same on Node's mysql2 with a pool of three connections and prepared
/// statements only (`pool.execute`): each connection prepares what it runs
/// the first time, on whichever connection the pool hands out, and the
/// mock answers a prepare recorded on any of them. The UUID and the Date
/// the app binds afresh match by kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_on_a_mysql2_pool_of_prepared_statements_replays_green() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let t = table("notes");
    let (rec, base) = record_app("node", "app.js", &t, &store).await;
    let send = |method: &'static str, path: &'static str, body: Option<Value>| {
        call(&base, method, path, body)
    };
    for (author, body) in [("ann", "first"), ("bob", "hello"), ("ann", "second")] {
        let note = serde_json::json!({"author": author, "body": body});
        let (status, v) = send("POST", "/notes", Some(note)).await;
        assert_eq!(status, 201, "{v}");
    }
    let (status, v) = send("GET", "/notes/2", None).await;
    assert_eq!(
        (status, &v),
        (
            200,
            &serde_json::json!({"id": 2, "author": "bob", "body": "hello"})
        )
    );
    assert_eq!(send("GET", "/notes/9", None).await.0, 404);
    let (_, v) = send("GET", "/authors/ann/notes", None).await;
    assert_eq!(
        v,
        serde_json::json!([{"id": 1, "body": "first"}, {"id": 3, "body": "second"}])
    );
    let (code, out, err) = rec.interrupt().await;
    drop_tables(&t, &["notes", "codes"]);
    assert_eq!(code, 0, "{out}{err}");

    let change = (
        "WHERE author = ? ORDER BY id`",
        "WHERE author = ? ORDER BY body`",
    );
    let (printed, suite) = replay_then_change(dir.path(), &store, "app.js", 7, change);
    let lines = crate::postgres::mock_lines(&suite);
    let inserts: Vec<&Value> = lines
        .iter()
        .filter(|l| l["cmd"] == "COM_STMT_EXECUTE")
        .filter(|l| {
            l["sql"]
                .as_str()
                .is_some_and(|s| s.starts_with("INSERT INTO"))
        })
        .collect();
    assert_eq!(inserts.len(), 3, "{printed}");
    for l in inserts {
        assert_eq!(l["params"][2], serde_json::json!({"$reel": "uuid"}), "{l}");
        assert_eq!(
            l["params"][3],
            serde_json::json!({"$reel": "timestamp"}),
            "{l}"
        );
    }
}

/// A one-time code the app makes up and writes to MariaDB (six digits:
/// nothing about it says it is made up) is kept exact by `generate`, and
/// replay misses the new code. `generate --verify` runs the app again
/// against MariaDB, then sealed, sees the code differ between runs, and
/// makes it a number matcher where it stood: inside the SQL PyMySQL quoted
/// it into (`sql.literals[1]`), or as the parameter mysql2 bound
/// (`params[1]`). The suite then replays green.
async fn verify_matches_a_made_up_code(program: &str, script: &str, place: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let t = table("codes");
    let (rec, base) = record_app(program, script, &t, &store).await;
    let (status, v) = call(&base, "POST", "/codes/ann", None).await;
    assert_eq!(status, 201, "{v}");
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");

    let (suite, printed) = generate_suite(dir.path(), "shop", &store);
    let (code, out) = crate::postgres::run_suite(&suite, &[]);
    assert_eq!(code, 1, "{out}\n(generate said:\n{printed})");
    assert!(out.contains("_codes (who, code)"), "{out}");

    let (verified, said) = generate_verified("shop", &suite, &store);
    drop_tables(&t, &["users", "orders", "notes", "codes"]);
    assert_eq!(verified, Some(0), "{said}");
    assert!(
        said.lines().any(|l| l.contains("-post-codes-ann#")
            && l.contains(place)
            && l.contains("number: differed across runs")),
        "the code is loosened at {place}, and said so: {said}"
    );
    for _ in 0..2 {
        let (code, out) = crate::postgres::run_suite(&suite, &[]);
        assert_eq!(code, 0, "{out}\n(generate --verify said:\n{said})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_matches_a_code_pymysql_quotes_into_its_sql() {
    verify_matches_a_made_up_code("python3", "app.py", "sql.literals[1]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_matches_a_code_mysql2_binds_as_a_parameter() {
    verify_matches_a_made_up_code("node", "app.js", "params[1]").await;
}

/// The demo bookshop keeping its books in MariaDB through a pool of sqlx
/// connections: recorded, generated, and replayed green with its database
/// gone. MySQL has no `RETURNING`, so a new book is read back by the id
/// the insert's OK packet gave (`LAST_INSERT_ID`): that id flows into the
/// later cases' requests as a reference to the create's answer, and from
/// there into the statements' parameters. A build that changes one query
/// fails the cases that sent it, naming the statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_app_over_mariadb_replays_without_its_database() {
    use crate::postgres::{app_ready, call, run_suite, sibling_bin, Forwarder};
    let dir = tempfile::tempdir().unwrap();
    let database = Forwarder::start("127.0.0.1:3306").await;
    let pricing = serve_pricing().await;
    let name = table("demo");
    let port = free_port();
    let cmd = format!(
        "exec {} --listen 127.0.0.1:{port} --pricing-url \"$REEL_DEP_PRICING_URL\" \
         --database-url \"mysql://root@$REEL_DEP_DB/test\" --schema {name}",
        sibling_bin("reel-demo-app").display()
    );
    let store = dir.path().join("reel.db");
    let args = record_args(
        port,
        &[
            format!("pricing=http:127.0.0.1:0=http://{}", pricing.addr),
            format!("db=mysql:127.0.0.1:0={}", database.addr),
        ],
        "demo-mysql",
        &store,
        &cmd,
    );
    let rec = Recording::start(&args).await.unwrap();
    let base = app_ready(&rec).await;
    let (s, list) = call("GET", &format!("{base}/books")).await;
    assert_eq!((s, list["total"].as_u64()), (200, Some(5)), "{list}");
    let created = client()
        .post(format!("{base}/books"))
        .json(&serde_json::json!({"title": "High Performance MySQL", "author": "S. Botros", "isbn": "9781492080510", "price_cents": 5499}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_u64().unwrap();
    assert_eq!(id, 6, "{created}");
    assert!(
        created["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{created}"
    );
    let (s, renamed) = crate::pg_pools::send(
        &client(),
        "PUT",
        format!("{base}/books/{id}"),
        None,
        Some(serde_json::json!({"price_cents": 4999})),
    )
    .await;
    assert_eq!(
        (s, &renamed["price_cents"]),
        (200, &serde_json::json!(4999))
    );
    assert!(renamed["updated_at"].is_string(), "{renamed}");
    for (method, path, status) in [
        ("GET", format!("/books/{id}"), 200),
        ("GET", "/books?q=rust".to_owned(), 200),
        ("GET", "/books/1/quote?currency=EUR".to_owned(), 200),
        ("DELETE", format!("/books/{id}"), 204),
        ("GET", format!("/books/{id}"), 404),
    ] {
        let (s, body) = call(method, &format!("{base}{path}")).await;
        assert_eq!(s, status, "{method} {path}: {body}");
    }
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");
    pricing.stop().await;
    let (suite, printed) = generate_suite(dir.path(), "demo-mysql", &store);
    assert!(!printed.contains("ambiguous"), "{printed}");

    // The insert is a prepared execute whose OK carries the new id, and
    // the later requests name the book by the create's answer.
    let lines = crate::postgres::mock_lines(&suite);
    let insert = lines
        .iter()
        .find(|l| {
            l["cmd"] == "COM_STMT_EXECUTE"
                && l["sql"].as_str().is_some_and(|s| s.starts_with("INSERT"))
        })
        .unwrap_or_else(|| panic!("no insert among {lines:?}"));
    assert_eq!(insert["params"][0], "High Performance MySQL");
    assert_eq!(
        insert["answer"]["results"][0]["ok"]["last_insert_id"], 6,
        "{insert}"
    );
    let mut by_reference = 0;
    for e in std::fs::read_dir(suite.join("cases")).unwrap() {
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap();
        let target = case["request"]["target"].as_str().unwrap_or_default();
        if target.starts_with("/books/${") && target.ends_with(".response.body.id}") {
            by_reference += 1;
        }
    }
    assert_eq!(
        by_reference, 4,
        "GET, PUT, DELETE, GET of the new book\n{printed}"
    );

    // The database is gone now (and its table), and so is pricing.
    database.stop().await;
    drop_tables(&name, &["books"]);
    for _ in 0..2 {
        let (code, out) = run_suite(&suite, &[]);
        assert_eq!(code, 0, "replay with the database gone:\n{out}");
        assert!(out.contains("9 passed, 0 failed"), "{out}");
    }

    // A build whose list query orders by title sends a statement never
    // recorded: the list and search cases fail naming it, and the quote,
    // whose book id comes from the list's answer, cannot be sent.
    let changed = format!("{cmd} --variant pg-changed-query");
    let (code, out) = run_suite(&suite, &["--app", &changed]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("6 passed, 3 failed"), "{out}");
    assert!(
        out.contains("ORDER BY title, id"),
        "the miss names the statement: {out}"
    );
    assert!(
        out.contains("dependency 'db' got a call no recording matches"),
        "{out}"
    );
}
