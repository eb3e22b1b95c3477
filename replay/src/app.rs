//! The app under test: started as a child (`sh -c COMMAND`, in its own process
//! group), polled until ready with a deadline, and stopped at the end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncBufReadExt as _;
use tokio::io::BufReader;
use tokio::process::{Child, Command};

use crate::errors::ReplayError;

/// Lines of the app's output kept to explain a failed start.
const LOG_TAIL: usize = 40;

pub struct App {
    child: Child,
    command: String,
    log: Arc<Mutex<VecDeque<String>>>,
    /// Files the app's processes leave behind when they are killed, removed
    /// once it is stopped.
    leftovers: Vec<std::path::PathBuf>,
}

impl App {
    /// Starts `command` with `env` added to reel's environment and the
    /// variables named in `unset` taken out of it.
    pub fn start(
        command: &str,
        env: &[(String, String)],
        unset: &[&str],
    ) -> Result<Self, ReplayError> {
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
        let log = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(keep_tail(BufReader::new(out), log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(keep_tail(BufReader::new(err), log.clone()));
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

    fn log_tail(&self) -> String {
        let lines = self.log.lock().expect("log lock");
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
                // Give the output readers a moment to drain the final lines.
                tokio::time::sleep(Duration::from_millis(50)).await;
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
                None => tokio::net::TcpStream::connect(&authority).await.is_ok(),
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
/// reaped by someone else do not count: they hold no port).
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
        pgrp == Some(pgid) && state != Some("Z") && state != Some("X")
    })
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

async fn keep_tail<R: tokio::io::AsyncBufRead + Unpin>(
    mut r: R,
    log: Arc<Mutex<VecDeque<String>>>,
) {
    // Read bytes, not text: an app that prints invalid UTF-8 must keep its pipe.
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let l = String::from_utf8_lossy(&buf).trim_end().to_owned();
        tracing::debug!(target: "reel::app", "{l}");
        let mut q = log.lock().expect("log lock");
        if q.len() == LOG_TAIL {
            q.pop_front();
        }
        q.push_back(l);
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
