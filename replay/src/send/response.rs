//! Reading the app's answer off the connection: the head (interim `1xx`
//! answers skipped), then the body as it is framed (length, chunked, or up to
//! the end of the stream), and whether the connection can carry another request.

use reel_core::suite::body::Answer;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

use super::SendError;
use crate::model::ActualResponse;

/// The largest answer head read; the rest of an answer is not bounded (the
/// recorded one was stored whole up to `--max-body`).
const MAX_HEAD: usize = 1 << 20;

/// One answer as it arrived.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Names as the app wrote them, in its order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The connection may carry the next request.
    pub reusable: bool,
}

impl Response {
    /// The answer as it is compared: its body decoded as the client would
    /// read it.
    pub fn into_actual(self) -> ActualResponse {
        let answer = Answer::of(&self.headers, &self.body, false);
        ActualResponse {
            status: self.status,
            headers: self.headers,
            body: answer.body,
            body_encoding: answer.encoding,
            undecoded: answer.undecoded,
        }
    }
}

/// Reads one answer. `buf` holds bytes read beyond the previous answer, and
/// keeps what is read beyond this one.
pub async fn read(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    head_only: bool,
) -> Result<Response, SendError> {
    let mut arrived = !buf.is_empty();
    loop {
        let head = loop {
            match parse_head(buf)? {
                Some(h) => break h,
                None if buf.len() > MAX_HEAD => {
                    return Err(SendError::BadAnswer(format!(
                        "no end of the head in its first {MAX_HEAD} bytes"
                    )))
                }
                None => {
                    if fill(stream, buf, arrived).await? == 0 {
                        return Err(if arrived {
                            SendError::BadAnswer("the connection ended inside the head".into())
                        } else {
                            SendError::Closed
                        });
                    }
                    arrived = true;
                }
            }
        };
        buf.drain(..head.len);
        // 100 Continue, 102, 103 Early Hints come before the answer.
        if (100..200).contains(&head.status) && head.status != 101 {
            continue;
        }
        return finish(stream, buf, head, head_only).await;
    }
}

struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    http10: bool,
    /// Bytes of the head in the buffer.
    len: usize,
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, SendError> {
    let mut n = 64;
    loop {
        let mut slots = vec![httparse::EMPTY_HEADER; n];
        let mut r = httparse::Response::new(&mut slots);
        match r.parse(buf) {
            Ok(httparse::Status::Partial) => return Ok(None),
            Ok(httparse::Status::Complete(len)) => {
                return Ok(Some(Head {
                    status: r.code.unwrap_or_default(),
                    http10: r.version == Some(0),
                    headers: r
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    len,
                }))
            }
            Err(httparse::Error::TooManyHeaders) if n < 16384 => n *= 4,
            Err(e) => return Err(SendError::BadAnswer(e.to_string())),
        }
    }
}

/// Reads more into `buf`; 0 at the end of the stream.
async fn fill(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    arrived: bool,
) -> Result<usize, SendError> {
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk).await {
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(n)
        }
        Err(source) if arrived => Err(SendError::Read { source }),
        Err(source) => Err(SendError::NoAnswer { source }),
    }
}

async fn finish(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    head: Head,
    head_only: bool,
) -> Result<Response, SendError> {
    let header = |name: &'static str| {
        head.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let token = |name: &'static str, t: &str| {
        header(name).any(|v| v.split(',').any(|x| x.trim().eq_ignore_ascii_case(t)))
    };
    let mut reusable = if head.http10 {
        token("connection", "keep-alive")
    } else {
        !token("connection", "close")
    };
    let no_body = head_only || head.status == 204 || head.status == 304 || head.status < 200;
    // After a 101 the connection speaks another protocol.
    if head.status == 101 {
        reusable = false;
    }
    let chunked = header("transfer-encoding")
        .next_back()
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
    let length = header("content-length").next().map(|v| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| SendError::BadAnswer(format!("Content-Length '{v}' is not a number")))
    });
    let body = if no_body {
        Vec::new()
    } else if chunked {
        read_chunked(stream, buf).await?
    } else if let Some(length) = length {
        let length = length?;
        while buf.len() < length {
            if fill(stream, buf, true).await? == 0 {
                return Err(SendError::BadAnswer(format!(
                    "the connection ended after {} of {length} body bytes",
                    buf.len()
                )));
            }
        }
        buf.drain(..length).collect()
    } else {
        // No framing: the body runs to the end of the stream.
        reusable = false;
        while fill(stream, buf, true).await? > 0 {}
        std::mem::take(buf)
    };
    Ok(Response {
        status: head.status,
        headers: head.headers,
        body,
        reusable,
    })
}

/// A chunked body, decoded; trailers are read and dropped.
async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<u8>, SendError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(stream, buf).await?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| SendError::BadAnswer(format!("chunk size '{size}' is not hex")))?;
        if size == 0 {
            // Trailer fields up to the empty line.
            while !read_line(stream, buf).await?.is_empty() {}
            return Ok(body);
        }
        while buf.len() < size + 2 {
            if fill(stream, buf, true).await? == 0 {
                return Err(SendError::BadAnswer(
                    "the connection ended inside a chunk".into(),
                ));
            }
        }
        body.extend_from_slice(&buf[..size]);
        if &buf[size..size + 2] != b"\r\n" {
            return Err(SendError::BadAnswer("a chunk does not end in CRLF".into()));
        }
        buf.drain(..size + 2);
    }
}

async fn read_line(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<String, SendError> {
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..i]).into_owned();
            buf.drain(..i + 2);
            return Ok(line);
        }
        if buf.len() > MAX_HEAD {
            return Err(SendError::BadAnswer("a chunk line has no end".into()));
        }
        if fill(stream, buf, true).await? == 0 {
            return Err(SendError::BadAnswer(
                "the connection ended inside the chunked body".into(),
            ));
        }
    }
}
