//! MySQL's and MariaDB's client/server protocol.
//!
//! Everything either side sends travels in packets: a three-byte length
//! (little-endian), a one-byte sequence id, then that many bytes of
//! payload. A payload of 16 MiB or more is split into packets of
//! `0xFFFFFF` bytes, the last shorter (empty if need be), with sequence ids
//! counting on; the receiver joins them. [`PacketDecoder`] reads one
//! direction of a connection into whole payloads, with the exact bytes they
//! came as, and keeps memory bounded by a cap: past it a payload is cut
//! (its first bytes kept, the rest read and dropped as they come) and
//! flagged, so a 1 GiB `BLOB` is never held. [`encode_payload`] writes a
//! payload back as packets.
//!
//! The layers above (the handshake, commands and their answers, the
//! statement ids and sequence ids of a conversation) read these payloads.

mod command;
mod conversation;
mod encode;
mod handshake;
mod later;
mod packet;
mod read;
mod response;
mod value;

#[cfg(test)]
mod conversation_tests;
#[cfg(test)]
mod tests;

pub use command::{command_name, Command};
pub use conversation::{Answer, Conversation, Turn, READ_MARIADB};
pub use encode::{encode_answer, encode_column, encode_err, encode_ok, Encoding, Rows};
pub use handshake::{caps, mariadb_caps, AuthForm, ClientHello, Greeting, GreetingRest};
pub use later::Redecoder;
#[cfg(test)]
pub(crate) use later::{stored_query, stored_raw};
pub use packet::{encode_payload, PacketDecoder, Payload, MAX_PACKET};
pub use response::{put_lenenc, EofPacket, ErrPacket, Generic, OkPacket, MORE_RESULTS};
pub use value::{execute_params, type_name, types, Column, ParamType, UNSIGNED};
