//! Capped copies of bodies as they stream through.

use bytes::Bytes;
use reel_core::Body;

/// Collects up to `cap` bytes of a body; counts the rest and flags the truncation.
#[derive(Debug, Default)]
pub struct BodyCapture {
    bytes: Vec<u8>,
    size: u64,
    cap: usize,
}

impl BodyCapture {
    pub fn new(cap: usize) -> Self {
        BodyCapture {
            bytes: Vec::new(),
            size: 0,
            cap,
        }
    }

    pub fn push(&mut self, chunk: &Bytes) {
        self.size += chunk.len() as u64;
        let room = self.cap.saturating_sub(self.bytes.len());
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// A copy of what is captured so far.
    pub fn peek(&self) -> Body {
        Body {
            bytes: self.bytes.clone(),
            size: self.size,
            truncated: (self.bytes.len() as u64) < self.size,
        }
    }

    pub fn take(&mut self) -> Body {
        let bytes = std::mem::take(&mut self.bytes);
        Body {
            truncated: (bytes.len() as u64) < self.size,
            size: std::mem::take(&mut self.size),
            bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_cap_and_flags_the_rest() {
        let mut c = BodyCapture::new(5);
        c.push(&Bytes::from_static(b"abc"));
        c.push(&Bytes::from_static(b"defg"));
        let b = c.take();
        assert_eq!(b.bytes, b"abcde");
        assert_eq!(b.size, 7);
        assert!(b.truncated);
        let mut c = BodyCapture::new(5);
        c.push(&Bytes::from_static(b"abcde"));
        assert!(!c.take().truncated);
    }
}
