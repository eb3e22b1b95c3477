//! HTTP content codings (`Content-Encoding: gzip`, `deflate`, `br`, `zstd`):
//! decoding a recorded or replayed body to what the client reads, and
//! encoding a decoded body again where reel sends it (a mock's answer).
//!
//! Bodies are compared by what they mean, so a gzip header's timestamp or a
//! compressor's level never fails a case; the coding itself is still compared
//! as a header. Decoding is bounded by [`DECODED_LIMIT`] whatever the
//! compressed size, so a small body that expands without end (a "zip bomb")
//! stays raw instead of filling memory.

use std::io::{Read, Write};

/// The most bytes a body is decoded to; a body that decodes to more is kept
/// as it was sent.
///
/// Under `cargo fuzz` (`cfg(fuzzing)`) it is 1 MiB: the same code paths at the
/// limit, but a fuzzer that finds a bomb no longer spends 64 MiB of
/// decompression on every input that mutates it (docs/fuzzing.md).
pub const DECODED_LIMIT: usize = if cfg!(fuzzing) { 1 << 20 } else { 64 << 20 };

/// One content coding, in the order a `Content-Encoding` list applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    /// zlib-wrapped deflate, as RFC 9110 defines it; raw deflate (which some
    /// servers send) is read too.
    Deflate,
    Brotli,
    Zstd,
}

#[derive(Debug, thiserror::Error)]
pub enum CodingError {
    #[error("content coding '{0}' is not one reel can decode (gzip, deflate, br, zstd)")]
    Unknown(String),
    #[error("the body does not decode as {coding}")]
    Corrupt {
        coding: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the body decodes to more than {} MiB", DECODED_LIMIT >> 20)]
    TooLarge,
}

impl Coding {
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }

    fn parse(token: &str) -> Result<Option<Coding>, CodingError> {
        Ok(Some(match token.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => return Ok(None),
            "gzip" | "x-gzip" => Coding::Gzip,
            "deflate" => Coding::Deflate,
            "br" => Coding::Brotli,
            "zstd" => Coding::Zstd,
            other => return Err(CodingError::Unknown(other.to_owned())),
        }))
    }
}

/// The codings a `Content-Encoding` value lists, in the order they were
/// applied; empty for `identity` or nothing.
pub fn parse_list(header: &str) -> Result<Vec<Coding>, CodingError> {
    header
        .split(',')
        .filter_map(|t| Coding::parse(t).transpose())
        .collect()
}

/// The codings of a header list's `Content-Encoding` (all its lines).
pub fn of_headers(headers: &[(String, String)]) -> Result<Vec<Coding>, CodingError> {
    let mut out = Vec::new();
    for (_, v) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
    {
        out.extend(parse_list(v)?);
    }
    Ok(out)
}

/// How a list of codings is written in a suite: `gzip`, or `gzip, br`.
pub fn describe(codings: &[Coding]) -> String {
    codings
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Undoes `codings` (applied in that order), last first.
pub fn decode(bytes: &[u8], codings: &[Coding]) -> Result<Vec<u8>, CodingError> {
    let mut cur = bytes.to_vec();
    for c in codings.iter().rev() {
        cur = decode_one(&cur, *c, false)?;
    }
    Ok(cur)
}

/// What the first `bytes` of a body cut at the recording cap decode to: as
/// much as decodes before the cut.
pub fn decode_prefix(bytes: &[u8], codings: &[Coding]) -> Result<Vec<u8>, CodingError> {
    let mut cur = bytes.to_vec();
    for c in codings.iter().rev() {
        cur = decode_one(&cur, *c, true)?;
    }
    Ok(cur)
}

fn decode_one(bytes: &[u8], coding: Coding, partial: bool) -> Result<Vec<u8>, CodingError> {
    let read = |r: &mut dyn Read| read_bounded(r, coding, partial);
    match coding {
        Coding::Gzip => read(&mut flate2::read::MultiGzDecoder::new(bytes)),
        Coding::Deflate => read(&mut flate2::read::ZlibDecoder::new(bytes))
            .or_else(|_| read(&mut flate2::read::DeflateDecoder::new(bytes))),
        Coding::Brotli => read(&mut brotli::Decompressor::new(bytes, 4096)),
        Coding::Zstd => {
            let mut d =
                zstd::stream::read::Decoder::new(bytes).map_err(|source| CodingError::Corrupt {
                    coding: coding.name(),
                    source,
                })?;
            read(&mut d)
        }
    }
}

/// Reads to the end, at most [`DECODED_LIMIT`] bytes. With `partial`, an
/// error after some output (the input was cut) ends the body instead.
fn read_bounded(r: &mut dyn Read, coding: Coding, partial: bool) -> Result<Vec<u8>, CodingError> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                if out.len() + n > DECODED_LIMIT {
                    return Err(CodingError::TooLarge);
                }
                out.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) if partial => return Ok(out),
            Err(source) => {
                return Err(CodingError::Corrupt {
                    coding: coding.name(),
                    source,
                })
            }
        }
    }
}

/// Applies `codings` in order: what a server sends for a decoded body.
pub fn encode(bytes: &[u8], codings: &[Coding]) -> std::io::Result<Vec<u8>> {
    let mut cur = bytes.to_vec();
    for c in codings {
        cur = match c {
            Coding::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&cur)?;
                e.finish()?
            }
            Coding::Deflate => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&cur)?;
                e.finish()?
            }
            Coding::Brotli => {
                let mut out = Vec::new();
                {
                    let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                    e.write_all(&cur)?;
                }
                out
            }
            Coding::Zstd => zstd::encode_all(cur.as_slice(), 3)?,
        };
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &[u8] = b"{\"books\": [1, 2, 3], \"title\": \"The Left Hand of Darkness\"}";

    #[test]
    fn every_coding_round_trips_and_lists_apply_in_order() {
        for list in [
            "gzip", "x-gzip", "deflate", "br", "zstd", "gzip, br", "identity",
        ] {
            let codings = parse_list(list).unwrap();
            let sent = encode(TEXT, &codings).unwrap();
            assert_eq!(decode(&sent, &codings).unwrap(), TEXT, "{list}");
        }
        assert_eq!(
            parse_list("gzip, identity, br").unwrap(),
            [Coding::Gzip, Coding::Brotli]
        );
        assert_eq!(describe(&parse_list("X-GZIP,br").unwrap()), "gzip, br");
    }

    #[test]
    fn raw_deflate_is_read_as_servers_send_it() {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(TEXT).unwrap();
        let raw = e.finish().unwrap();
        assert_eq!(decode(&raw, &[Coding::Deflate]).unwrap(), TEXT);
    }

    #[test]
    fn unknown_corrupt_and_oversized_bodies_are_errors() {
        assert!(matches!(
            parse_list("compress"),
            Err(CodingError::Unknown(c)) if c == "compress"
        ));
        let err = decode(b"not gzip at all", &[Coding::Gzip]).unwrap_err();
        assert_eq!(err.to_string(), "the body does not decode as gzip");
        let bomb = encode(&vec![0u8; DECODED_LIMIT + 1], &[Coding::Zstd]).unwrap();
        assert!(bomb.len() < 64 << 10);
        assert!(matches!(
            decode(&bomb, &[Coding::Zstd]),
            Err(CodingError::TooLarge)
        ));
    }

    #[test]
    fn a_body_cut_at_the_cap_decodes_as_far_as_it_goes() {
        let long: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let sent = encode(&long, &[Coding::Gzip]).unwrap();
        let got = decode_prefix(&sent[..sent.len() / 2], &[Coding::Gzip]).unwrap();
        assert!(!got.is_empty() && got.len() < long.len());
        assert!(long.starts_with(&got));
    }
}
