//! The packet layer: length, sequence id and payload, and the 16 MiB split.

use crate::wire::{DecodeError, Side};

/// The most payload bytes one packet carries; a payload this long or longer
/// goes on in the next packet.
pub const MAX_PACKET: usize = 0xFF_FFFF;

/// The most a payload's buffers are sized for before its bytes come.
const PRESIZE: usize = 64 * 1024;

/// One payload as the protocol means it: the packets it took joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The sequence id of its first packet.
    pub seq: u8,
    /// The payload's bytes; only the first `cap` of them when
    /// [`cut`](Self::cut). The packets' bytes as they came, headers too,
    /// are written from them ([`Payload::write_raw`]): copied apart as
    /// well, they cost an allocation and a copy for every payload.
    pub bytes: Vec<u8>,
    /// Where its first packet starts in its direction of the connection.
    pub offset: u64,
    /// How many bytes it took on the wire, headers too, all of them.
    pub size: u64,
    /// The payload's whole length.
    pub len: u64,
    /// Longer on the wire than the cap: `bytes` may hold its start only,
    /// and its raw bytes are cut.
    pub cut: bool,
    /// How many packets it took (2 or more past 16 MiB).
    pub packets: u32,
}

impl Payload {
    /// Appends the packets' bytes as they came, headers too, as far as
    /// `room` bytes and the bytes held go; whether all [`size`](Self::size)
    /// of them fit. Held within a cap, `bytes` holds at least as much of
    /// the payload as the raw bytes cut at that cap do.
    pub fn write_raw(&self, out: &mut Vec<u8>, room: usize) -> bool {
        let end = out.len().saturating_add(room);
        let mut rest = &self.bytes[..];
        let mut left = self.len;
        for i in 0..self.packets {
            // Every packet but the last is full; the last holds the rest.
            let n = match i + 1 == self.packets {
                true => left,
                false => MAX_PACKET as u64,
            };
            left -= n.min(left);
            let header = (n as u32).to_le_bytes();
            let header = [
                header[0],
                header[1],
                header[2],
                self.seq.wrapping_add(i as u8),
            ];
            for part in [&header[..], &rest[..rest.len().min(n as usize)]] {
                let take = part.len().min(end.saturating_sub(out.len()));
                out.extend_from_slice(&part[..take]);
                if take < part.len() {
                    return false;
                }
            }
            if (rest.len() as u64) < n {
                return false;
            }
            rest = &rest[n as usize..];
        }
        true
    }

    /// The packets' bytes as they came, within `cap` (see
    /// [`write_raw`](Self::write_raw)).
    pub fn raw_within(&self, cap: usize) -> Vec<u8> {
        let mut raw = Vec::new();
        self.write_raw(&mut raw, cap);
        raw
    }
}

/// A payload being read: its packets so far, and the one being read.
#[derive(Debug)]
struct Partial {
    payload: Payload,
    /// The sequence id the next packet of this payload must carry.
    next_seq: u8,
    /// Payload bytes of the current packet still to come.
    remaining: usize,
    /// The current packet is the last of the payload (shorter than
    /// [`MAX_PACKET`]).
    last: bool,
}

/// Reads one direction of a connection into payloads, as bytes arrive in
/// any chunks. An error (a packet of a split payload out of sequence, a
/// stream that ends inside a packet) names the side and the byte offset,
/// and sticks: nothing after it is read.
#[derive(Debug)]
pub struct PacketDecoder {
    side: Side,
    cap: usize,
    /// Bytes received and not yet read: at most a header's worth, as
    /// payload bytes are taken as they come.
    pending: Vec<u8>,
    /// The stream offset of the next byte not yet received.
    received: u64,
    partial: Option<Partial>,
    done: std::collections::VecDeque<Payload>,
    error: Option<DecodeError>,
}

impl PacketDecoder {
    /// A decoder of what `side` sends, keeping at most `cap` bytes of each
    /// payload (and of its raw bytes).
    pub fn new(side: Side, cap: usize) -> Self {
        PacketDecoder {
            side,
            cap,
            pending: Vec::new(),
            received: 0,
            partial: None,
            done: Default::default(),
            error: None,
        }
    }

    /// Takes the next bytes of the stream.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        while !bytes.is_empty() {
            let in_packet = self.partial.as_ref().is_some_and(|p| p.remaining > 0);
            if in_packet {
                let p = self.partial.as_mut().expect("a payload is being read");
                let n = p.remaining.min(bytes.len());
                take(&mut p.payload, &bytes[..n], self.cap, true);
                p.remaining -= n;
                self.received += n as u64;
                bytes = &bytes[n..];
                self.end_of_packet();
                continue;
            }
            // A header: four bytes, perhaps across pushes.
            let need = 4 - self.pending.len();
            let n = need.min(bytes.len());
            self.pending.extend_from_slice(&bytes[..n]);
            self.received += n as u64;
            bytes = &bytes[n..];
            if self.pending.len() == 4 {
                let header: [u8; 4] = self.pending[..].try_into().expect("a header's 4 bytes");
                self.pending.clear();
                if let Err(e) = self.header(&header) {
                    self.error = Some(e);
                    return;
                }
            }
        }
    }

    /// The header of the packet that starts at `received - 4`.
    fn header(&mut self, h: &[u8]) -> Result<(), DecodeError> {
        let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
        let seq = h[3];
        let at = self.received - 4;
        match &mut self.partial {
            Some(p) => {
                if seq != p.next_seq {
                    return Err(DecodeError {
                        side: self.side,
                        message: "packet".into(),
                        offset: at,
                        reason: format!(
                            "sequence id {seq} where {} was due, in a payload over 16 MiB that began at byte {}",
                            p.next_seq, p.payload.offset
                        ),
                    });
                }
                p.payload.packets += 1;
            }
            None => {
                self.partial = Some(Partial {
                    payload: Payload {
                        seq,
                        // Sized for the usual payload, of one packet; what a
                        // header announces is not trusted past that.
                        bytes: Vec::with_capacity(len.min(self.cap).min(PRESIZE)),
                        offset: at,
                        size: 0,
                        len: 0,
                        cut: false,
                        packets: 1,
                    },
                    next_seq: seq,
                    remaining: 0,
                    last: false,
                });
            }
        }
        let p = self.partial.as_mut().expect("a payload is being read");
        take(&mut p.payload, h, self.cap, false);
        p.payload.len += len as u64;
        p.next_seq = seq.wrapping_add(1);
        p.remaining = len;
        p.last = len < MAX_PACKET;
        self.end_of_packet();
        Ok(())
    }

    /// When the current packet is all read and was the payload's last, the
    /// payload is done.
    fn end_of_packet(&mut self) {
        if self
            .partial
            .as_ref()
            .is_some_and(|p| p.remaining == 0 && p.last)
        {
            let p = self.partial.take().expect("a payload is being read");
            self.done.push_back(p.payload);
        }
    }

    /// The next whole payload, if one is.
    // Not an Iterator: `None` means "not yet", not "the end".
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Payload>, DecodeError> {
        if let Some(p) = self.done.pop_front() {
            return Ok(Some(p));
        }
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(None),
        }
    }

    /// Whether nothing is read in part: no payload begun and not ended.
    pub fn idle(&self) -> bool {
        self.partial.is_none() && self.pending.is_empty()
    }

    /// The stream has ended: an error if it ended inside a packet or a
    /// split payload.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let (offset, reason) = match (&self.partial, self.pending.len()) {
            (None, 0) => return Ok(()),
            (None, n) => (
                self.received - n as u64,
                format!("the stream ended {n} bytes into a packet header"),
            ),
            (Some(p), _) if p.remaining > 0 => (
                p.payload.offset,
                format!(
                    "the stream ended with {} bytes of the packet still to come",
                    p.remaining
                ),
            ),
            (Some(p), _) => (
                p.payload.offset,
                "the stream ended before the packet that ends a payload over 16 MiB".to_owned(),
            ),
        };
        Err(DecodeError {
            side: self.side,
            message: "packet".into(),
            offset,
            reason,
        })
    }
}

/// Counts bytes the payload took on the wire and, for payload bytes, adds
/// them to its bytes within `cap`.
fn take(p: &mut Payload, bytes: &[u8], cap: usize, payload: bool) {
    p.size += bytes.len() as u64;
    if payload {
        let room = cap.saturating_sub(p.bytes.len());
        p.bytes.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
    if p.size > cap as u64 {
        p.cut = true;
    }
}

/// Writes `payload` as packets, the first with sequence id `seq`; returns
/// the sequence id after the last. A payload of [`MAX_PACKET`] bytes or
/// more is split, and one whose length is a multiple of it ends in an
/// empty packet, as the protocol asks.
pub fn encode_payload(seq: u8, payload: &[u8], out: &mut Vec<u8>) -> u8 {
    let mut seq = seq;
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_PACKET);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        out.push(seq);
        out.extend_from_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_PACKET {
            return seq;
        }
    }
}
