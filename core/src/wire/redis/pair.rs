//! Turns the two streams of one Redis connection into exchanges: each
//! command with the replies it got, and what the server sent of its own.
//!
//! Replies come in the order commands were sent, so commands a client
//! pipelines wait in order for theirs. Most commands get one reply; the
//! connection's state says where that is not so:
//!
//! - `SUBSCRIBE a b` (and `PSUBSCRIBE`, `SSUBSCRIBE`) is answered once per
//!   channel, `UNSUBSCRIBE` once per channel it names or, naming none, once
//!   per channel subscribed (once if none). Under RESP3 those answers are
//!   pushes.
//! - Pushes (RESP3 `>`), and under RESP2 the `message`, `pmessage` and
//!   `smessage` arrays of a subscribed connection, are the server's own:
//!   each is an exchange of its own, in its place among the commands.
//! - `CLIENT REPLY OFF` silences the connection until `CLIENT REPLY ON`;
//!   `CLIENT REPLY SKIP` silences the next command.
//! - After `MONITOR` answers, every line the server sends is its own.
//! - `HELLO 3` and `HELLO 2` switch the protocol once answered; `RESET`
//!   returns to RESP2, unsubscribed, replies on.

use std::collections::{BTreeSet, VecDeque};

use crate::time::Micros;

use super::{Command, Decoded, Frame};

/// A command with its replies, or (with no command) a frame the server sent
/// of its own: one stored exchange.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pair {
    pub command: Option<Command>,
    pub command_raw: Vec<u8>,
    pub command_size: u64,
    pub command_cut: bool,
    pub replies: Vec<Frame>,
    pub reply_raw: Vec<u8>,
    pub reply_size: u64,
    pub reply_cut: bool,
    pub started_at: Option<Micros>,
    pub first_byte_at: Option<Micros>,
    pub ended_at: Option<Micros>,
}

impl Pair {
    fn add_reply(&mut self, f: Decoded<Frame>, now: Micros, cap: usize) {
        self.first_byte_at.get_or_insert(now);
        self.ended_at = Some(now);
        self.reply_size += f.size;
        self.reply_cut |= f.cut;
        let room = cap.saturating_sub(self.reply_raw.len());
        if f.raw.len() > room {
            self.reply_cut = true;
        }
        self.reply_raw
            .extend_from_slice(&f.raw[..f.raw.len().min(room)]);
        self.replies.push(f.value);
    }
}

/// Pairs one connection's commands with their replies.
#[derive(Debug, Default)]
pub struct Pairer {
    /// Commands waiting for replies, oldest first, with how many they still
    /// expect.
    waiting: VecDeque<(Pair, Expect)>,
    cap: usize,
    resp3: bool,
    /// Channels (and patterns, shard channels) subscribed, by kind.
    subscribed: [BTreeSet<Vec<u8>>; 3],
    /// Replies are off (`CLIENT REPLY OFF`).
    silent: bool,
    /// The next command gets no reply (`CLIENT REPLY SKIP`).
    skip_next: bool,
    /// The server streams what it runs (`MONITOR` answered).
    monitoring: bool,
}

/// What a waiting command still expects.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// This many replies.
    Replies(usize),
    /// One reply per channel subscribed of this kind when it is its turn
    /// (an `UNSUBSCRIBE` naming none).
    AllOf(usize),
}

/// The kind of subscription a command or confirmation is about: channels,
/// patterns, shard channels.
fn sub_kind(name: &[u8]) -> Option<(usize, bool)> {
    let n = name.to_ascii_lowercase();
    Some(match n.as_slice() {
        b"subscribe" => (0, true),
        b"unsubscribe" => (0, false),
        b"psubscribe" => (1, true),
        b"punsubscribe" => (1, false),
        b"ssubscribe" => (2, true),
        b"sunsubscribe" => (2, false),
        _ => return None,
    })
}

/// A frame's elements when it is an array or a push, attributes aside.
fn elements(f: &Frame) -> Option<&[Frame]> {
    match f {
        Frame::Array(v) | Frame::Push(v) => Some(v),
        Frame::Attributed { frame, .. } => elements(frame),
        _ => None,
    }
}

fn text(f: &Frame) -> Option<&[u8]> {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => Some(b),
        _ => None,
    }
}

impl Pairer {
    /// A pairer keeping at most `cap` bytes of each side of an exchange.
    pub fn with_cap(cap: usize) -> Self {
        Pairer {
            cap,
            ..Pairer::default()
        }
    }

    /// Takes a command the client sent; returns exchanges now complete (a
    /// command the server will not answer).
    pub fn client(&mut self, c: Decoded<Command>, now: Micros) -> Vec<Pair> {
        let args = &c.value.args;
        let reply_mode = (c.value.name() == "CLIENT"
            && args.len() == 3
            && args[1].eq_ignore_ascii_case(b"reply"))
        .then(|| args[2].to_ascii_uppercase());
        let expect = match reply_mode.as_deref() {
            // CLIENT REPLY ON is answered; OFF and SKIP are not.
            Some(b"ON") => {
                (self.silent, self.skip_next) = (false, false);
                Expect::Replies(1)
            }
            Some(b"OFF") => {
                self.silent = true;
                Expect::Replies(0)
            }
            Some(b"SKIP") => {
                self.skip_next = !self.silent;
                Expect::Replies(0)
            }
            _ if self.silent || std::mem::take(&mut self.skip_next) => Expect::Replies(0),
            _ => match args.first().and_then(|a| sub_kind(a)) {
                Some((kind, false)) if args.len() == 1 => Expect::AllOf(kind),
                Some(_) => Expect::Replies(args.len().saturating_sub(1).max(1)),
                None => Expect::Replies(1),
            },
        };
        let pair = Pair {
            command_raw: c.raw,
            command_size: c.size,
            command_cut: c.cut,
            command: Some(c.value),
            started_at: Some(now),
            ..Pair::default()
        };
        let mut done = Vec::new();
        if expect == Expect::Replies(0) && self.waiting.is_empty() {
            done.push(pair);
        } else {
            self.waiting.push_back((pair, expect));
            self.settle(&mut done);
        }
        done
    }

    /// Takes a frame the server sent; returns exchanges now complete.
    pub fn server(&mut self, f: Decoded<Frame>, now: Micros) -> Vec<Pair> {
        let mut done = Vec::new();
        self.settle(&mut done);
        let own = self.is_own(&f.value);
        let confirms = self.confirmation(&f.value);
        // A push answers a subscribe-family command under RESP3; any other
        // push, message or monitored line is the server's own.
        let answers = match (&f.value, &confirms) {
            (_, Some(_)) => true,
            (v, None) => !own && !v.is_push(),
        };
        if let Some((kind, subscribe, channel)) = confirms {
            if subscribe {
                self.subscribed[kind].insert(channel);
            } else {
                self.subscribed[kind].remove(&channel);
            }
        }
        match self.waiting.front_mut() {
            Some((pair, expect)) if answers => {
                pair.add_reply(f, now, self.cap);
                let reply = pair.replies.last();
                // An error is the whole answer, whatever was asked.
                let failed = matches!(reply, Some(Frame::Error(_) | Frame::BulkError(_)));
                match expect {
                    _ if failed => *expect = Expect::Replies(0),
                    Expect::Replies(n) => *n = n.saturating_sub(1),
                    Expect::AllOf(_) => {}
                }
                let change = pair
                    .command
                    .as_ref()
                    .filter(|_| !failed)
                    .map(|c| (c.name(), c.args.get(1).map(|a| a.0.clone())));
                if let Some((name, arg)) = change {
                    self.after_reply(&name, arg.as_deref());
                }
                self.settle(&mut done);
            }
            _ => {
                let mut pair = Pair {
                    started_at: Some(now),
                    ..Pair::default()
                };
                pair.add_reply(f, now, self.cap);
                done.push(pair);
            }
        }
        done
    }

    /// Whether nothing waits for a reply.
    pub fn idle(&self) -> bool {
        self.waiting.is_empty()
    }

    /// What never got its replies, at the end of the connection.
    pub fn finish(&mut self) -> Vec<Pair> {
        self.waiting.drain(..).map(|(p, _)| p).collect()
    }

    /// Moves the commands at the front that expect nothing more to `done`.
    fn settle(&mut self, done: &mut Vec<Pair>) {
        while let Some((_, expect)) = self.waiting.front_mut() {
            if let Expect::AllOf(kind) = *expect {
                *expect = Expect::Replies(self.subscribed[kind].len().max(1));
            }
            if *expect != Expect::Replies(0) {
                return;
            }
            let (pair, _) = self.waiting.pop_front().expect("checked above");
            done.push(pair);
        }
    }

    /// Whether a frame is the server's own, not a reply: a message of a
    /// subscribed RESP2 connection, or what a monitor streams.
    fn is_own(&self, f: &Frame) -> bool {
        if self.monitoring && matches!(f, Frame::Simple(_)) {
            return true;
        }
        let subscribed = self.subscribed.iter().any(|s| !s.is_empty());
        let kind = elements(f).and_then(|e| e.first()).and_then(text);
        subscribed
            && !self.resp3
            && kind.is_some_and(|k| {
                matches!(
                    k.to_ascii_lowercase().as_slice(),
                    b"message" | b"pmessage" | b"smessage"
                )
            })
    }

    /// A subscribe or unsubscribe confirmation: its kind, which way, and
    /// the channel.
    fn confirmation(&self, f: &Frame) -> Option<(usize, bool, Vec<u8>)> {
        let e = elements(f)?;
        let [kind, channel, _count] = e else {
            return None;
        };
        let (kind, subscribe) = sub_kind(text(kind)?)?;
        // Only a subscribe-family command waiting can be confirmed.
        let waiting = self.waiting.front()?.0.command.as_ref()?;
        sub_kind(waiting.args.first()?)?;
        let channel = match channel {
            Frame::Bulk(b) | Frame::Simple(b) => b.0.clone(),
            _ => Vec::new(),
        };
        Some((kind, subscribe, channel))
    }

    /// State a command changes once answered: the protocol, monitoring,
    /// a reset.
    fn after_reply(&mut self, name: &str, first_arg: Option<&[u8]>) {
        match (name, first_arg) {
            ("HELLO", Some(b"3")) => self.resp3 = true,
            ("HELLO", Some(b"2")) => self.resp3 = false,
            ("MONITOR", _) => self.monitoring = true,
            ("RESET", _) => {
                *self = Pairer {
                    cap: self.cap,
                    waiting: std::mem::take(&mut self.waiting),
                    ..Pairer::default()
                }
            }
            _ => {}
        }
    }
}
