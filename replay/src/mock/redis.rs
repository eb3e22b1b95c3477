//! The Redis mock: speaks RESP 2 and 3 where the server stood and answers
//! each command from the [`RedisBook`].
//!
//! Commands are answered in the order sent, pipelined ones together: all
//! the commands one read brings are answered, then the answers written at
//! once. A command with no recording gets an error naming the nearest
//! recorded one (`-ERR reel: no recorded command matches ...`), and the case
//! fails with the diff. A connection speaks RESP 2 until a `HELLO 3`
//! succeeds, and again after `RESET`; `QUIT` is answered, then the
//! connection closed. Bytes that are no command close that connection only.

use std::sync::Arc;

use reel_core::wire::redis::{encode_reply, CommandDecoder};
use reel_core::wire::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::MockServer;
use super::redis_book::{Answer, RedisBook, Session};
use crate::errors::ReplayError;
use crate::model::MockMiss;

/// Starts the Redis mock of dependency `name` on `listen`.
pub async fn serve(
    name: &str,
    listen: &str,
    book: Arc<RedisBook>,
) -> Result<MockServer, ReplayError> {
    let dep: Arc<str> = name.into();
    super::serve_tcp(name, listen, "redis", move |stream, n| {
        let mut conn = Connection {
            dep: dep.clone(),
            book: book.clone(),
            session: Session::new(n),
        };
        async move { conn.run(stream).await }
    })
    .await
}

struct Connection {
    dep: Arc<str>,
    book: Arc<RedisBook>,
    session: Session,
}

impl Connection {
    /// Answers the app's commands until it closes the connection or quits;
    /// an error says why the connection ended otherwise. Answers go out
    /// through a writer of their own, so that a client that sends a long
    /// pipeline before it reads is never blocked by its own answers (Redis
    /// too buffers what a client has not read yet).
    async fn run(&mut self, stream: TcpStream) -> Result<(), String> {
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Out>();
        let writer = tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                match out {
                    Out::Bytes(bytes) => wr.write_all(&bytes).await?,
                    Out::Wait(d) => tokio::time::sleep(d).await,
                }
            }
            wr.shutdown().await
        });
        let read = self.read_commands(&mut rd, &tx).await;
        drop(tx);
        let written = match writer.await {
            Ok(w) => w.map_err(|e| format!("writing: {e}")),
            Err(e) => Err(format!("writing: {e}")),
        };
        read.and(written)
    }

    /// Reads and answers commands, handing the answers to `tx`, until the
    /// app closes or quits.
    async fn read_commands(
        &mut self,
        rd: &mut tokio::net::tcp::OwnedReadHalf,
        tx: &tokio::sync::mpsc::UnboundedSender<Out>,
    ) -> Result<(), String> {
        let mut dec = CommandDecoder::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = rd
                .read(&mut buf)
                .await
                .map_err(|e| format!("reading: {e}"))?;
            if n == 0 {
                return dec.finish().map_err(|e| e.to_string());
            }
            dec.push(&buf[..n]);
            let mut out = Vec::new();
            let mut quit = false;
            let decoded = loop {
                match dec.next() {
                    Ok(Some(cmd)) => {
                        quit = self.command(&cmd.value.args, &mut out, tx);
                        if quit {
                            break Ok(());
                        }
                    }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            // The commands before bad bytes are answered all the same.
            if !out.is_empty() && tx.send(Out::Bytes(out)).is_err() {
                return Err("writing: the connection's writer stopped".into());
            }
            decoded.map_err(|e| e.to_string())?;
            if quit {
                return Ok(());
            }
        }
    }

    /// Answers one command into `out`; whether it was `QUIT`. An answer
    /// that waits first ([`Answer::wait`]) has what is in `out` sent to `tx`
    /// before the wait, so answers keep their order.
    fn command(
        &mut self,
        args: &[Bytes],
        out: &mut Vec<u8>,
        tx: &tokio::sync::mpsc::UnboundedSender<Out>,
    ) -> bool {
        match self.book.answer(&self.dep, args, self.session) {
            Ok(answer) => {
                if let Some(wait) = answer.wait.filter(|w| !w.is_zero()) {
                    if !out.is_empty() {
                        let _ = tx.send(Out::Bytes(std::mem::take(out)));
                    }
                    let _ = tx.send(Out::Wait(wait));
                }
                if self.send(&answer, out) {
                    self.session.after(args, &answer);
                }
            }
            Err(miss) => error_line(&miss_message(&miss), out),
        }
        args.first()
            .is_some_and(|a| a.eq_ignore_ascii_case(b"QUIT"))
    }

    /// Encodes the answer's replies and pushes, or, when one cannot go on the
    /// wire (a value filled in at replay may hold a line feed), an error in
    /// their place, noted for the case. Whether the answer was sent.
    fn send(&self, answer: &Answer, out: &mut Vec<u8>) -> bool {
        let mut encoded = Vec::new();
        let sent = answer
            .replies
            .iter()
            .chain(&answer.pushes)
            .try_for_each(|f| encode_reply(f, &mut encoded));
        match sent {
            Ok(()) => {
                out.extend_from_slice(&encoded);
                true
            }
            Err(why) => {
                let what = format!(
                    "dependency '{}': recorded reply {} cannot be sent: {why}",
                    self.dep, answer.id
                );
                tracing::warn!("{what}");
                self.book.failed(what);
                error_line(
                    &format!("reel: the recorded reply cannot be sent: {why}"),
                    out,
                );
                false
            }
        }
    }
}

/// What a connection's writer does next: send bytes, or wait (a blocking
/// command's recorded wait) before what follows.
enum Out {
    Bytes(Vec<u8>),
    Wait(std::time::Duration),
}

fn miss_message(miss: &MockMiss) -> String {
    format!(
        "reel: no recorded command matches {}; nearest: {}",
        miss.call,
        miss.nearest.as_deref().unwrap_or("none recorded")
    )
}

/// `-ERR <message>` on one line, whatever the message holds.
fn error_line(message: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"-ERR ");
    out.extend(
        message
            .bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reel_core::suite::redis::matcher_text;
    use reel_core::suite::RedisMock;
    use reel_core::wire::redis::{encode_command, Command, Frame};

    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes(s.as_bytes().to_vec())
    }

    fn line(id: &str, words: &[&str], replies: Vec<Frame>, pushes: Vec<Frame>) -> RedisMock {
        RedisMock {
            id: id.into(),
            seq: 1,
            dependency: "cache".into(),
            protocol: "redis".into(),
            connection: 1,
            cmd: words.iter().map(|w| b(w)).collect(),
            replies,
            pushes,
            waited_ms: None,
        }
    }

    /// Commands as a client library sends them.
    fn commands(list: &[&[&str]]) -> Vec<u8> {
        let mut out = Vec::new();
        for words in list {
            let c = Command {
                args: words.iter().map(|w| b(w)).collect(),
                inline: false,
            };
            encode_command(&c, &mut out);
        }
        out
    }

    /// Frames as a server sends them.
    fn frames(list: &[Frame]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in list {
            encode_reply(f, &mut out).unwrap();
        }
        out
    }

    /// Sends `bytes` and reads as many bytes as `want` has (bounded in
    /// time, so that a mock answering too little fails the test).
    async fn exchange(s: &mut TcpStream, bytes: &[u8], want: &[u8]) {
        s.write_all(bytes).await.unwrap();
        let mut got = vec![0u8; want.len()];
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut got))
            .await
            .expect("the mock answered in time")
            .expect("the mock answered all");
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    }

    /// Whether the mock closed the connection (without sending more).
    async fn closed(s: &mut TcpStream) -> bool {
        let mut one = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut one))
            .await
            .expect("the mock closed or answered in time")
            .unwrap_or(0);
        n == 0
    }

    /// A client that writes a long pipeline of large commands before it
    /// reads (64 MB each way, far past what socket buffers hold) gets every
    /// answer: the mock keeps reading while its answers wait to be read.
    #[tokio::test]
    async fn a_long_pipeline_sent_before_reading_is_answered_whole() {
        let key = "k".repeat(16 * 1024);
        let value = Frame::Bulk(Bytes(vec![b'v'; 16 * 1024]));
        let book = Arc::new(RedisBook::new(
            vec![],
            vec![line(
                "shared#1",
                &["GET", &key],
                vec![value.clone()],
                vec![],
            )],
        ));
        let server = serve("cache", "127.0.0.1:0", book).await.unwrap();
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let n = 4000;
        let sent = commands(&vec![&["GET", key.as_str()][..]; n]);
        let want = frames(&vec![value; n]);
        tokio::time::timeout(Duration::from_secs(20), s.write_all(&sent))
            .await
            .expect("the mock kept reading while its answers waited")
            .unwrap();
        let mut got = vec![0u8; want.len()];
        tokio::time::timeout(Duration::from_secs(20), s.read_exact(&mut got))
            .await
            .expect("every answer came")
            .unwrap();
        assert!(got == want, "the answers differ from the recording");
    }

    /// Asked to, the mock answers a blocking command after as long as it
    /// waited when recorded, and what the client pipelined after it comes
    /// after it, in order; asked not to, the answer carries no wait.
    #[tokio::test]
    async fn a_blocking_command_waits_as_recorded_when_asked() {
        let lines = || {
            let mut blpop = line(
                "shared#1",
                &["BLPOP", "jobs", "5"],
                vec![Frame::Array(vec![
                    Frame::Bulk(b("jobs")),
                    Frame::Bulk(b("j1")),
                ])],
                vec![],
            );
            blpop.waited_ms = Some(1500);
            vec![
                line(
                    "shared#0",
                    &["PING"],
                    vec![Frame::Simple(b("PONG"))],
                    vec![],
                ),
                blpop,
                line("shared#2", &["GET", "k"], vec![Frame::Bulk(b("v"))], vec![]),
            ]
        };
        let at_once = RedisBook::new(vec![], lines());
        let blpop = at_once
            .answer("cache", &[b("BLPOP"), b("jobs"), b("5")], Session::new(1))
            .unwrap();
        assert_eq!(blpop.wait, None);

        let book = Arc::new(RedisBook::new(vec![], lines()).with_recorded_waits(true));
        let server = serve("cache", "127.0.0.1:0", book).await.unwrap();
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let sent = commands(&[&["PING"], &["BLPOP", "jobs", "5"], &["GET", "k"]]);
        let t0 = std::time::Instant::now();
        s.write_all(&sent).await.unwrap();
        // The answer before the wait is not held back by it.
        let mut pong = [0u8; 7];
        s.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"+PONG\r\n");
        assert!(
            t0.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t0.elapsed()
        );
        let want = frames(&[
            Frame::Array(vec![Frame::Bulk(b("jobs")), Frame::Bulk(b("j1"))]),
            Frame::Bulk(b("v")),
        ]);
        let mut got = vec![0u8; want.len()];
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut got))
            .await
            .expect("the answers came")
            .unwrap();
        assert!(
            t0.elapsed() >= Duration::from_millis(1500),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }

    #[tokio::test]
    async fn pipelined_commands_are_answered_in_order() {
        let key = format!("session:{}", matcher_text("uuid"));
        let subscribed = Frame::Push(vec![
            Frame::Bulk(b("subscribe")),
            Frame::Bulk(b("news")),
            Frame::Integer(1),
        ]);
        let message = Frame::Push(vec![
            Frame::Bulk(b("message")),
            Frame::Bulk(b("news")),
            Frame::Bulk(b("hi")),
        ]);
        let book = Arc::new(RedisBook::new(
            vec![vec![
                line("0001#1", &["GET", "k"], vec![Frame::Bulk(b("v"))], vec![]),
                line(
                    "0001#2",
                    &["SET", &key, "{}", "EX", "60"],
                    vec![Frame::Simple(b("OK"))],
                    vec![],
                ),
                line(
                    "0001#3",
                    &["SUBSCRIBE", "news"],
                    vec![subscribed.clone()],
                    vec![message.clone()],
                ),
            ]],
            vec![],
        ));
        let server = serve("cache", "127.0.0.1:0", book.clone()).await.unwrap();
        book.begin_case(0);
        let mut app = TcpStream::connect(server.addr).await.unwrap();
        let fresh = "session:0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77";
        let sent = commands(&[
            &["GET", "k"],
            &["SET", fresh, "{}", "EX", "60"],
            &["HELLO", "3"],
            &["GET", "nope"],
            &["SUBSCRIBE", "news"],
        ]);
        let bulk = |s: &str| Frame::Bulk(b(s));
        let mut want = frames(&[
            bulk("v"),
            Frame::Simple(b("OK")),
            Frame::Map(vec![
                (bulk("server"), bulk("redis")),
                (bulk("version"), bulk("7.0.0")),
                (bulk("proto"), Frame::Integer(3)),
                (bulk("id"), Frame::Integer(1)),
                (bulk("mode"), bulk("standalone")),
                (bulk("role"), bulk("master")),
                (bulk("modules"), Frame::Array(vec![])),
            ]),
        ]);
        want.extend_from_slice(
            b"-ERR reel: no recorded command matches GET nope; nearest: 0001#1 (GET k)\r\n",
        );
        want.extend(frames(&[subscribed, message]));
        exchange(&mut app, &sent, &want).await;
        // Nothing more was sent: the next answer comes next. An inline
        // command, and HELLO without a version in the connection's RESP3.
        exchange(&mut app, b"PING\r\n", b"+PONG\r\n").await;
        let want = frames(&[
            Frame::Integer(1),
            Frame::Map(vec![
                (bulk("server"), bulk("redis")),
                (bulk("version"), bulk("7.0.0")),
                (bulk("proto"), Frame::Integer(3)),
                (bulk("id"), Frame::Integer(1)),
                (bulk("mode"), bulk("standalone")),
                (bulk("role"), bulk("master")),
                (bulk("modules"), Frame::Array(vec![])),
            ]),
        ]);
        exchange(&mut app, &commands(&[&["CLIENT", "ID"], &["HELLO"]]), &want).await;

        // Each connection has its number.
        let mut other = TcpStream::connect(server.addr).await.unwrap();
        exchange(&mut other, &commands(&[&["CLIENT", "ID"]]), b":2\r\n").await;
        // QUIT is answered, then the connection closed; what follows it is not.
        exchange(&mut other, &commands(&[&["QUIT"], &["PING"]]), b"+OK\r\n").await;
        assert!(closed(&mut other).await);

        // Bytes that are no command close that connection only, once the
        // commands before them are answered.
        let mut broken = TcpStream::connect(server.addr).await.unwrap();
        let mut sent = commands(&[&["PING"]]);
        sent.extend_from_slice(b"*1\r\n$x\r\n");
        exchange(&mut broken, &sent, b"+PONG\r\n").await;
        assert!(closed(&mut broken).await);
        exchange(&mut app, b"PING\r\n", b"+PONG\r\n").await;

        let log = book.end_case();
        assert_eq!(log.used, ["0001#1", "0001#2", "0001#3"]);
        assert_eq!(log.misses.len(), 1);
        assert_eq!(log.misses[0].call, "GET nope");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_reply_that_cannot_be_sent_is_an_error_the_case_reports() {
        let book = Arc::new(RedisBook::new(
            vec![vec![line(
                "0001#1",
                &["GET", "k"],
                vec![Frame::Simple(b("two\nlines"))],
                vec![],
            )]],
            vec![],
        ));
        let server = serve("cache", "127.0.0.1:0", book.clone()).await.unwrap();
        book.begin_case(0);
        let mut app = TcpStream::connect(server.addr).await.unwrap();
        exchange(
            &mut app,
            &commands(&[&["GET", "k"], &["GET", "a\r\nb"]]),
            b"-ERR reel: the recorded reply cannot be sent: a simple string cannot hold a \
              line feed; use a bulk string\r\n\
              -ERR reel: no recorded command matches GET a  b; nearest: 0001#1 (GET k)\r\n",
        )
        .await;
        let log = book.end_case();
        assert_eq!(
            log.failures,
            [
                "dependency 'cache': recorded reply 0001#1 cannot be sent: a simple string \
              cannot hold a line feed; use a bulk string"
            ]
        );
        server.stop().await;
    }
}
