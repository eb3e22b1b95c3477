//! Records a Redis dependency: a TCP proxy that forwards the app's
//! connections to the real server and stores each command with its replies
//! as an outbound exchange (protocol `redis`), and each frame the server
//! sends of its own (a push, a pub/sub message) as one with no command.
//!
//! Bytes are forwarded both ways as they arrive, and decoded from a copy
//! with the `--max-body` cap, so a 512 MB value passes through without
//! being held. A frame that does not decode closes that one connection,
//! with an error naming the side, what broke and the byte offset; the
//! commands in flight are stored with that error.
//!
//! A `rediss://` target is reached over TLS (rustls, trusting the
//! platform's CAs and `SSL_CERT_FILE`/`SSL_CERT_DIR`); the app still talks
//! plain RESP to the recorder, as it does to the mock at replay.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use pingora::tls::{ServerName, TlsConnector};
use reel_core::time::Micros;
use reel_core::wire::redis::{
    encode_command, encode_reply, password_args, password_replies, Command, CommandDecoder, Frame,
    Pair, Pairer, ReplyDecoder,
};
use reel_core::{Body, DecodedJson, Direction, Exchange, Payload, Protocol};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::tcp;

/// Where a Redis recorder forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// `host:port` of the real server.
    pub addr: String,
    /// Reached over TLS (`rediss://`), checked against this host name.
    pub tls: Option<String>,
}

impl std::fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.tls {
            Some(_) => write!(f, "rediss://{}", self.addr),
            None => f.write_str(&self.addr),
        }
    }
}

/// How long a server may take to finish the TLS handshake.
const TLS_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// What a recorder needs to open TLS to its server.
pub(crate) struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl Tls {
    /// A client that trusts the platform's CAs and those of `SSL_CERT_FILE`
    /// or `SSL_CERT_DIR`, as pingora's HTTP dependencies do, for `host`.
    pub fn new(host: &str) -> Result<Tls, String> {
        use pingora::tls::{ClientConfig, RootCertStore};
        pingora::tls::install_default_crypto_provider();
        let mut roots = RootCertStore::empty();
        // Every certificate that parses is trusted, one that does not is
        // skipped; with none at all each connection fails, naming the
        // certificate, rather than the recording as a whole.
        match pingora::tls::load_native_certs() {
            Ok(certs) => {
                let (_, skipped) = roots.add_parsable_certificates(certs);
                if skipped > 0 {
                    tracing::warn!("{skipped} of the platform's CA certificates could not be read");
                }
            }
            Err(e) => tracing::warn!("loading the platform's CA certificates: {e}"),
        }
        let config = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| format!("'{host}' is no TLS server name: {e}"))?;
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            name,
        })
    }
}

/// One recorded Redis dependency.
pub(crate) struct RedisRecorder {
    pub dep: tcp::WireDep,
    /// Set for a `rediss://` target.
    pub tls: Option<Tls>,
    /// With `--redact`: passwords (`AUTH`, `HELLO ... AUTH`) are not stored.
    pub redact: bool,
}

impl std::ops::Deref for RedisRecorder {
    type Target = tcp::WireDep;

    fn deref(&self) -> &tcp::WireDep {
        &self.dep
    }
}

impl RedisRecorder {
    /// Records one connection of the app's (see [`tcp::serve`]).
    pub(crate) async fn connection(
        self: Arc<Self>,
        client: TcpStream,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) {
        let _guard = self.in_flight.enter();
        let conn = Conn {
            id: self.sink.next_connection(),
            rec: self.clone(),
            pairer: Mutex::new(Pairer::with_cap(self.body_cap)),
        };
        let _ = client.set_nodelay(true);
        let server = match TcpStream::connect(&self.target).await {
            Ok(s) => s,
            Err(e) => {
                let why = format!("cannot connect to {}: {e}", self.target);
                return self.no_server(client, why).await;
            }
        };
        let _ = server.set_nodelay(true);
        let who = (self.name.as_str(), conn.id, peer);
        let (client_rd, client_wr) = client.into_split();
        let error = match &self.tls {
            None => {
                let (server_rd, server_wr) = server.into_split();
                let upstream = conn.client_to_server(client_rd, server_wr);
                let downstream = conn.server_to_client(server_rd, client_wr);
                tcp::relay(upstream, downstream, shutdown, || conn.idle(), who).await
            }
            Some(tls) => {
                let handshake = tls.connector.connect(tls.name.clone(), server);
                let server = match tokio::time::timeout(TLS_HANDSHAKE, handshake).await {
                    Ok(Ok(s)) => s,
                    Err(_) => {
                        let why = format!(
                            "TLS with {} failed: no handshake within {} s",
                            self.target,
                            TLS_HANDSHAKE.as_secs()
                        );
                        return self.no_server(client_wr, why).await;
                    }
                    Ok(Err(e)) => {
                        let why = format!("TLS with {} failed: {e}", self.target);
                        return self.no_server(client_wr, why).await;
                    }
                };
                let (server_rd, server_wr) = tokio::io::split(server);
                let upstream = conn.client_to_server(client_rd, server_wr);
                let downstream = conn.server_to_client(server_rd, client_wr);
                tcp::relay(upstream, downstream, shutdown, || conn.idle(), who).await
            }
        };
        conn.finish(error.as_deref());
    }
}

impl RedisRecorder {
    /// Logs why the app has no server and tells it, as Redis tells an error.
    async fn no_server(&self, mut client: impl AsyncWrite + Unpin, why: String) {
        tracing::error!(dependency = %self.name, "{why}");
        let line = format!("-ERR reel: {}\r\n", why.replace(['\r', '\n'], " "));
        let _ = client.write_all(line.as_bytes()).await;
        let _ = client.shutdown().await;
    }
}

/// One proxied connection's recording state.
struct Conn {
    id: u64,
    rec: Arc<RedisRecorder>,
    pairer: Mutex<Pairer>,
}

impl Drop for Conn {
    /// A connection dropped mid-way (its recorder's runtime ended when the
    /// stop grace ran out) still stores what it saw.
    fn drop(&mut self) {
        self.finish(Some("recording stopped before the server answered"));
    }
}

impl Conn {
    fn idle(&self) -> bool {
        self.pairer.lock().idle()
    }

    /// Stores what never got its replies, with the reason the connection ended.
    fn finish(&self, error: Option<&str>) {
        let left = self.pairer.lock().finish();
        for p in left {
            let why = error.unwrap_or("the connection closed before the server answered");
            self.store(p, Some(why.to_owned()));
        }
    }

    /// Forwards what the client sends as it comes and decodes a copy.
    async fn client_to_server(
        &self,
        rd: impl AsyncRead + Unpin,
        wr: impl AsyncWrite + Unpin,
    ) -> Result<(), String> {
        let decoder = CommandDecoder::with_cap(self.rec.body_cap);
        let decode = |d: &mut CommandDecoder, bytes: &[u8]| {
            d.push(bytes);
            while let Some(c) = d.next().map_err(|e| e.to_string())? {
                let done = self.pairer.lock().client(c, Micros::now());
                done.into_iter().for_each(|p| self.store(p, None));
            }
            Ok(())
        };
        let end = |d: &CommandDecoder| d.finish().map_err(|e| e.to_string());
        tcp::forward(rd, wr, ("the app", "the server"), decoder, decode, end).await
    }

    /// Forwards the server's bytes as they come and decodes a copy.
    async fn server_to_client(
        &self,
        rd: impl AsyncRead + Unpin,
        wr: impl AsyncWrite + Unpin,
    ) -> Result<(), String> {
        let decoder = ReplyDecoder::with_cap(self.rec.body_cap);
        let decode = |d: &mut ReplyDecoder, bytes: &[u8]| {
            d.push(bytes);
            while let Some(f) = d.next().map_err(|e| e.to_string())? {
                let done = self.pairer.lock().server(f, Micros::now());
                done.into_iter().for_each(|p| self.store(p, None));
            }
            Ok(())
        };
        let end = |d: &ReplyDecoder| d.finish().map_err(|e| e.to_string());
        tcp::forward(rd, wr, ("the server", "the app"), decoder, decode, end).await
    }

    fn store(&self, pair: Pair, error: Option<String>) {
        let rec = &self.rec;
        let Pair {
            mut command,
            mut command_raw,
            command_size,
            command_cut,
            mut replies,
            mut reply_raw,
            reply_size,
            reply_cut,
            started_at,
            first_byte_at,
            ended_at,
        } = pair;
        if rec.redact {
            if let Some(c) = &mut command {
                if redact_password(c) {
                    // The raw bytes must not keep what the command no longer holds.
                    command_raw.clear();
                    encode_command(c, &mut command_raw);
                }
                let redacted = password_replies(&c.args, &mut replies, &mut |b| {
                    b.0 = b"[redacted]".to_vec();
                });
                if redacted {
                    reply_raw.clear();
                    for f in &replies {
                        // What was decoded encodes again.
                        let _ = encode_reply(f, &mut reply_raw);
                    }
                }
            }
        }
        let answered = !replies.is_empty();
        let exchange = Exchange {
            session_id: 0,
            seq: rec.sink.next_seq(),
            direction: Direction::Outbound,
            protocol: Protocol::Redis,
            dependency: Some(rec.name.clone()),
            connection: self.id,
            started_at: started_at.unwrap_or_else(Micros::now),
            first_byte_at,
            ended_at,
            request: Payload::Wire {
                decoded: DecodedJson::text(&CommandHead { command: &command }),
                raw: Body::capped(command_raw, command_size, command_cut, rec.body_cap),
            },
            response: answered.then(|| Payload::Wire {
                decoded: DecodedJson::text(&RepliesHead { replies: &replies }),
                raw: Body::capped(reply_raw, reply_size, reply_cut, rec.body_cap),
            }),
            error,
        };
        rec.sink.send(exchange);
    }
}

/// An exchange's decoded command, as stored: `{"command": ...}`.
#[derive(serde::Serialize)]
struct CommandHead<'a> {
    command: &'a Option<Command>,
}

/// An exchange's decoded replies, as stored: `{"replies": [...]}`.
#[derive(serde::Serialize)]
struct RepliesHead<'a> {
    replies: &'a [Frame],
}

/// Replaces each password the command holds (`AUTH`, `HELLO ... AUTH`,
/// `MIGRATE ... AUTH`, `ACL SETUSER ... >password`, `CONFIG SET
/// requirepass`: [`password_args`]); whether anything changed.
fn redact_password(c: &mut Command) -> bool {
    let found = password_args(&c.args);
    for &(i, from) in &found {
        let arg = &mut c.args[i].0;
        arg.truncate(from);
        arg.extend_from_slice(b"[redacted]");
    }
    !found.is_empty()
}

/// Answers a connection over `--max-connections` as Redis answers one over
/// `maxclients`: an error, then close.
pub(crate) async fn refuse(mut client: TcpStream) {
    let answer =
        b"-ERR reel: too many connections are open to this recorder (--max-connections)\r\n";
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        client.write_all(answer).await?;
        client.shutdown().await?;
        let mut buf = [0u8; 1024];
        while client.read(&mut buf).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use reel_core::wire::Bytes;

    fn cmd(args: &[&str]) -> Command {
        Command {
            args: args.iter().map(|a| Bytes(a.as_bytes().to_vec())).collect(),
            inline: false,
        }
    }

    #[test]
    fn passwords_in_auth_and_hello_are_redacted_and_nothing_else() {
        for (before, after) in [
            (cmd(&["AUTH", "s3cret"]), cmd(&["AUTH", "[redacted]"])),
            (
                cmd(&["auth", "app", "s3cret"]),
                cmd(&["auth", "app", "[redacted]"]),
            ),
            (
                cmd(&["HELLO", "3", "AUTH", "app", "s3cret", "SETNAME", "x"]),
                cmd(&["HELLO", "3", "AUTH", "app", "[redacted]", "SETNAME", "x"]),
            ),
            (
                cmd(&["ACL", "SETUSER", "ann", "on", ">s3cret", "+@all"]),
                cmd(&["ACL", "SETUSER", "ann", "on", ">[redacted]", "+@all"]),
            ),
            (
                cmd(&["CONFIG", "SET", "requirepass", "s3cret"]),
                cmd(&["CONFIG", "SET", "requirepass", "[redacted]"]),
            ),
        ] {
            let mut c = before;
            assert!(redact_password(&mut c));
            assert_eq!(c, after);
        }
        let mut get = cmd(&["GET", "auth"]);
        assert!(!redact_password(&mut get));
        let mut hello = cmd(&["HELLO", "3"]);
        assert!(!redact_password(&mut hello));
    }
}
