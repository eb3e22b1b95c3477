//! The app under test: started as a child (`sh -c COMMAND`, in its own process
//! group), polled until ready with a deadline, and stopped at the end. Its
//! stdout and stderr are read line by line: appended to a log file, kept as a
//! tail to explain a failed start, and kept per case to explain a failed case.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::os::fd::AsFd as _;

use tokio::net::unix::pipe;
use tokio::process::{Child, Command};

use crate::errors::ReplayError;

/// Lines of the app's output kept to explain a failed start.
const LOG_TAIL: usize = 40;
/// Lines kept of what the app printed while one case ran (the last ones).
const CASE_LINES: usize = 200;
/// After a failing case, how long the app's output must be quiet before its
/// lines are taken (they travel through a pipe, behind the answer), and the
/// longest wait for that.
const SETTLE_QUIET: Duration = Duration::from_millis(30);
const SETTLE_MAX: Duration = Duration::from_millis(300);

/// What the app printed: where it goes as it arrives.
///
/// Its stdout and stderr pipes are read under this struct's lock, by a task
/// when they become readable and by the runner at each case's start
/// ([`Output::drain`]): then what the app wrote before a case began never
/// shows up as that case's output, however late the task would have run.
#[derive(Default)]
struct Output {
    streams: Vec<Stream>,
    tail: VecDeque<String>,
    /// Lines since [`App::begin_case`], while a case runs.
    case: Option<VecDeque<String>>,
    case_omitted: usize,
    /// Lines read so far, to tell when the output has gone quiet.
    seen: u64,
    file: Option<std::io::LineWriter<std::fs::File>>,
}

/// One of the app's output pipes and the start of a line read from it.
struct Stream {
    pipe: Arc<pipe::Receiver>,
    partial: Vec<u8>,
    ended: bool,
}

impl Output {
    /// Reads what `stream` holds now, without waiting.
    fn drain(&mut self, stream: usize) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let s = &mut self.streams[stream];
            if s.ended {
                return;
            }
            // A read of the pipe itself, not of tokio's idea of whether it is
            // readable, which may lag.
            match nix::unistd::read(s.pipe.as_fd(), &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EBADF) => {
                    s.ended = true;
                    let rest = std::mem::take(&mut s.partial);
                    if !rest.is_empty() {
                        self.push(String::from_utf8_lossy(&rest).trim_end().to_owned());
                    }
                    return;
                }
                Ok(n) => self.take(stream, &buf[..n]),
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }

    fn drain_all(&mut self) {
        for i in 0..self.streams.len() {
            self.drain(i);
        }
    }

    /// Splits what was read into lines (bytes, not text: an app that prints
    /// invalid UTF-8 must keep its pipe).
    fn take(&mut self, stream: usize, bytes: &[u8]) {
        let mut partial = std::mem::take(&mut self.streams[stream].partial);
        partial.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(i) = partial[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&partial[start..start + i])
                .trim_end()
                .to_owned();
            tracing::debug!(target: "reel::app", "{line}");
            self.push(line);
            start += i + 1;
        }
        partial.drain(..start);
        self.streams[stream].partial = partial;
    }

    fn push(&mut self, line: String) {
        self.seen += 1;
        if let Some(f) = &mut self.file {
            // A full disk must not stop the replay; the file is a convenience.
            if f.write_all(line.as_bytes())
                .and_then(|()| f.write_all(b"\n"))
                .is_err()
            {
                self.file = None;
            }
        }
        if let Some(case) = &mut self.case {
            if case.len() == CASE_LINES {
                case.pop_front();
                self.case_omitted += 1;
            }
            case.push_back(line.clone());
        }
        if self.tail.len() == LOG_TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

pub struct App {
    child: Child,
    command: String,
    log: Arc<Mutex<Output>>,
    /// Files the app's processes leave behind when they are killed, removed
    /// once it is stopped.
    leftovers: Vec<std::path::PathBuf>,
}

impl App {
    /// Starts `command` with `env` added to reel's environment and the
    /// variables named in `unset` taken out of it. Its output is appended to
    /// `log_file` when one is given.
    pub fn start(
        command: &str,
        env: &[(String, String)],
        unset: &[&str],
        log_file: Option<&Path>,
    ) -> Result<Self, ReplayError> {
        let file = log_file.map(|p| open_log(p, command)).transpose()?;
        let mut cmd = Command::new("sh");
        for name in unset {
            cmd.env_remove(name);
        }
        cmd.arg("-c")
            .arg(command)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| ReplayError::AppStart {
            command: command.to_owned(),
            source,
        })?;
        let log = Arc::new(Mutex::new(Output {
            file,
            ..Output::default()
        }));
        let pipes = [
            child.stdout.take().map(|p| p.into_owned_fd()),
            child.stderr.take().map(|p| p.into_owned_fd()),
        ];
        for fd in pipes.into_iter().flatten() {
            let pipe = fd
                .and_then(pipe::Receiver::from_owned_fd)
                .map_err(|source| ReplayError::AppStart {
                    command: command.to_owned(),
                    source,
                })?;
            let pipe = Arc::new(pipe);
            let mut out = log.lock().expect("log lock");
            out.streams.push(Stream {
                pipe: pipe.clone(),
                partial: Vec::new(),
                ended: false,
            });
            tokio::spawn(read_output(pipe, out.streams.len() - 1, log.clone()));
        }
        Ok(App {
            child,
            command: command.to_owned(),
            log,
            leftovers: Vec::new(),
        })
    }

    /// The process id of the `sh` reel started (the app's process group).
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Removes `files` once the app is stopped.
    pub fn remove_when_stopped(&mut self, files: Vec<std::path::PathBuf>) {
        self.leftovers.extend(files);
    }

    fn remove_leftovers(&mut self) {
        for f in self.leftovers.drain(..) {
            let _ = std::fs::remove_file(f);
        }
    }

    /// From now on, what the app prints belongs to a new case: what it
    /// printed before is read first.
    pub fn begin_case(&self) {
        let mut out = self.log.lock().expect("log lock");
        out.case = None;
        out.drain_all();
        out.case = Some(VecDeque::new());
        out.case_omitted = 0;
    }

    /// The case is over and its lines are not wanted.
    pub fn end_case(&self) {
        self.log.lock().expect("log lock").case = None;
    }

    /// The lines the app printed since [`App::begin_case`]: all it wrote
    /// before answering, and what it writes after (an access log line) until
    /// its output has been quiet for a moment.
    pub async fn end_case_settled(&self) -> Vec<String> {
        let end = tokio::time::Instant::now() + SETTLE_MAX;
        let mut seen = {
            let mut out = self.log.lock().expect("log lock");
            out.drain_all();
            out.seen
        };
        while tokio::time::Instant::now() < end {
            tokio::time::sleep(SETTLE_QUIET).await;
            let mut out = self.log.lock().expect("log lock");
            out.drain_all();
            if out.seen == seen {
                break;
            }
            seen = out.seen;
        }
        let mut out = self.log.lock().expect("log lock");
        let omitted = std::mem::take(&mut out.case_omitted);
        let mut lines: Vec<String> = out.case.take().unwrap_or_default().into();
        if omitted > 0 {
            lines.insert(0, format!("[{omitted} earlier lines omitted]"));
        }
        lines
    }

    fn log_tail(&self) -> String {
        let mut out = self.log.lock().expect("log lock");
        out.drain_all();
        let lines = &out.tail;
        if lines.is_empty() {
            return String::new();
        }
        let mut s = String::from("\nlast lines of its output:\n");
        for l in lines.iter() {
            s.push_str("  ");
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    /// Polls until `ready` answers (any HTTP status below 500) or, without a
    /// ready URL, until `target`'s port accepts connections.
    pub async fn wait_ready(
        &mut self,
        target: &str,
        ready: Option<&str>,
        deadline: Duration,
    ) -> Result<(), ReplayError> {
        let what = ready.map_or_else(|| format!("the port of {target}"), str::to_owned);
        let end = tokio::time::Instant::now() + deadline;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| ReplayError::Other(e.to_string()))?;
        let authority = authority_of(target)?;
        loop {
            if let Some(status) = self.child.try_wait().ok().flatten() {
                return Err(ReplayError::AppExited {
                    command: self.command.clone(),
                    status: status.to_string(),
                    log: self.log_tail(),
                });
            }
            let up = match ready {
                Some(url) => client
                    .get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() < 500),
                None => port_accepts(&authority).await,
            };
            if up {
                return Ok(());
            }
            if tokio::time::Instant::now() >= end {
                return Err(ReplayError::AppNotReady {
                    secs: deadline.as_secs(),
                    what,
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGTERM to the app's process group, then SIGKILL after `grace`. Returns
    /// once every process of the group is gone, not only the `sh` reel
    /// started: the next app started on the same port must not find this one
    /// still listening there.
    pub async fn stop(mut self, grace: Duration) {
        let Some(pid) = self.child.id() else {
            let _ = self.child.kill().await;
            self.remove_leftovers();
            return;
        };
        let pgid = nix::unistd::Pid::from_raw(pid as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM);
        let end = tokio::time::Instant::now() + grace;
        let _ = tokio::time::timeout_at(end, self.child.wait()).await;
        while group_alive(pid) && tokio::time::Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if group_alive(pid) || self.child.try_wait().ok().flatten().is_none() {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = self.child.kill().await;
            let end = tokio::time::Instant::now() + Duration::from_secs(2);
            while group_alive(pid) && tokio::time::Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        self.remove_leftovers();
    }
}

/// Whether a process of group `pgid` is still running (zombies waiting to be
/// reaped by someone else do not count: they hold no port). A zombie whose
/// threads are still exiting does: the main thread of a multi-threaded app
/// (node, the JVM, Go) shows as a zombie while its other threads tear down,
/// and they still hold its files, its listening socket among them. Seen:
/// the next app's readiness check answered by that dying socket, and reset.
fn group_alive(pgid: u32) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.filter_map(Result::ok).any(|p| {
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else {
            return false;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut f = rest.split_whitespace();
        let state = f.next();
        let pgrp = f.nth(1).and_then(|g| g.parse::<u32>().ok());
        pgrp == Some(pgid)
            && match state {
                Some("Z" | "X") => threads_left(&p.path()),
                _ => true,
            }
    })
}

/// Whether the process at `/proc/PID` has threads besides its main one.
fn threads_left(proc: &Path) -> bool {
    std::fs::read_dir(proc.join("task")).is_ok_and(|d| d.count() > 1)
}

impl Drop for App {
    /// An app left running (Ctrl-C, an error) is stopped with its whole group.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Some(pid) = self.child.id() {
                let pgid = nix::unistd::Pid::from_raw(pid as i32);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM);
            }
        }
        self.remove_leftovers();
    }
}

/// Opens the log file for appending, with a line saying which start follows.
fn open_log(path: &Path, command: &str) -> Result<std::io::LineWriter<std::fs::File>, ReplayError> {
    let err = |source| ReplayError::AppLog {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    // Appended to across app starts, so it cannot be replaced by a rename
    // like other files reel writes; a link there is refused instead.
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(err)?;
    let mut w = std::io::LineWriter::new(file);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    writeln!(w, "--- reel: {now}: started the app: {command}").map_err(err)?;
    Ok(w)
}

/// Reads `stream` whenever it becomes readable, until it ends.
async fn read_output(pipe: Arc<pipe::Receiver>, stream: usize, log: Arc<Mutex<Output>>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        if pipe.readable().await.is_err() {
            return;
        }
        let mut out = log.lock().expect("log lock");
        // try_read rather than a plain read: it tells tokio when the pipe is
        // empty again, so that `readable` waits for more.
        loop {
            match pipe.try_read(&mut buf) {
                Ok(0) => {
                    out.drain(stream);
                    return;
                }
                Ok(n) => out.take(stream, &buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
        if out.streams[stream].ended {
            return;
        }
    }
}

/// `host:port` of an `http://` URL.
pub fn authority_of(target: &str) -> Result<String, ReplayError> {
    let rest = target
        .strip_prefix("http://")
        .ok_or_else(|| ReplayError::BadTarget(target.to_owned()))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    if authority.is_empty() {
        return Err(ReplayError::BadTarget(target.to_owned()));
    }
    Ok(if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    })
}

/// Whether something listens at `addr`. Connecting to a port nothing
/// listens on can connect the socket to itself when the port lies in the
/// ephemeral range (TCP's simultaneous open: the kernel picks that very
/// port as the source), which looks like a listener that then resets the
/// first request; such a connection is not one.
pub async fn port_accepts(addr: &str) -> bool {
    match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => !connected_to_itself(&s),
        Err(_) => false,
    }
}

/// A socket whose two ends are the same address and port.
fn connected_to_itself(s: &tokio::net::TcpStream) -> bool {
    matches!((s.local_addr(), s.peer_addr()), (Ok(l), Ok(p)) if l == p)
}

#[cfg(test)]
mod port_tests {
    /// A socket connected to itself is no listener; a real one is.
    #[tokio::test]
    async fn a_socket_connected_to_itself_is_not_a_listening_app() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(addr).unwrap();
        let s = socket
            .connect(addr)
            .await
            .expect("a socket can connect to itself");
        assert!(super::connected_to_itself(&s));
        drop(s);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let there = listener.local_addr().unwrap().to_string();
        assert!(super::port_accepts(&there).await);
        let c = tokio::net::TcpStream::connect(&there).await.unwrap();
        assert!(!super::connected_to_itself(&c));
    }

    /// An app whose main thread has ended while another still runs (as a
    /// multi-threaded runtime's does for a moment at exit) shows as a zombie
    /// but still listens on its port: it is alive until that thread ends
    /// too, so the next app started on the port is not checked against it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_zombie_whose_threads_still_hold_its_port_is_alive() {
        use std::time::Duration;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = format!(
            "import ctypes, os, socket, threading, time\n\
             s = socket.socket()\n\
             s.bind((\"127.0.0.1\", {port}))\n\
             s.listen()\n\
             def hold():\n    time.sleep(3)\n    os._exit(0)\n\
             threading.Thread(target=hold).start()\n\
             ctypes.CDLL(None).pthread_exit(None)\n"
        );
        let app =
            super::App::start(&format!("exec python3 -c '{script}'"), &[], &[], None).unwrap();
        let pid = app.id().unwrap();
        let state = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_owned))
        };
        let end = tokio::time::Instant::now() + Duration::from_secs(10);
        while state().as_deref() != Some("Z") {
            assert!(
                tokio::time::Instant::now() < end,
                "the main thread never ended: {:?}",
                state()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let addr = format!("127.0.0.1:{port}");
        assert!(
            super::port_accepts(&addr).await,
            "the other thread holds the port"
        );
        assert!(super::group_alive(pid), "a zombie holding a port is alive");
        app.stop(Duration::from_secs(10)).await;
        assert!(!super::group_alive(pid));
        assert!(
            !super::port_accepts(&addr).await,
            "stopped means the port is free"
        );
    }
}
