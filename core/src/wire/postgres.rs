//! Postgres frontend/backend protocol v3: the message types, their JSON form, a
//! streaming decoder for each direction and an encoder.
//!
//! The recorder decodes a copy of the bytes it forwards; the replay mock decodes
//! what the app sends and encodes recorded answers. Values (parameters, row
//! fields, copy data) are kept as bytes and shown in JSON as a string when they
//! are printable UTF-8 and as `{"base64": ...}` otherwise, so that JSON turns
//! back into the exact bytes.

mod codec;
mod group;
mod prepared;

#[cfg(test)]
mod tests;

pub use super::Bytes;
pub use super::{DecodeError, Side};
pub use codec::{BackendDecoder, Decoder, FrontendDecoder, Piece};
pub use group::{Grouper, RequestGroup};
pub use prepared::Prepared;

use serde::{Deserialize, Serialize};

/// Protocol version 3.0 as sent in a StartupMessage.
pub const PROTOCOL_V3: i32 = 196_608;
/// Request codes sent in place of a protocol version.
pub const SSL_REQUEST_CODE: i32 = 80_877_103;
pub const GSSENC_REQUEST_CODE: i32 = 80_877_104;
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;

/// A message from the client (the app) to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum FrontendMessage {
    SSLRequest,
    GSSENCRequest,
    CancelRequest {
        process_id: i32,
        secret_key: Bytes,
    },
    StartupMessage {
        /// Major version in the high 16 bits, minor in the low 16.
        protocol: i32,
        /// In the order sent (`user`, `database`, `application_name`, ...).
        params: Vec<(String, String)>,
    },
    /// `p`: a password, SASLInitialResponse, SASLResponse or GSSResponse; which
    /// one depends on the authentication request before it, so it stays bytes.
    PasswordMessage {
        data: Bytes,
    },
    Query {
        sql: String,
    },
    Parse {
        statement: String,
        sql: String,
        param_types: Vec<u32>,
    },
    Bind {
        portal: String,
        statement: String,
        param_formats: Vec<i16>,
        /// `None` is SQL NULL.
        params: Vec<Option<Bytes>>,
        result_formats: Vec<i16>,
    },
    Describe {
        /// `S` for a statement, `P` for a portal.
        kind: Target,
        name: String,
    },
    Execute {
        portal: String,
        max_rows: i32,
    },
    Close {
        kind: Target,
        name: String,
    },
    Sync,
    Flush,
    CopyData {
        data: Bytes,
    },
    CopyDone,
    CopyFail {
        message: String,
    },
    /// `F`: the legacy function call; kept whole.
    FunctionCall {
        body: Bytes,
    },
    Terminate,
}

/// A message from the server to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum BackendMessage {
    /// The single unframed byte (`S` or `N`) answering SSLRequest or GSSENCRequest.
    EncryptionResponse {
        accepted: bool,
    },
    /// `R`: AuthenticationOk is code 0; the rest of the body is kept as bytes.
    Authentication {
        code: i32,
        data: Bytes,
    },
    ParameterStatus {
        name: String,
        value: String,
    },
    BackendKeyData {
        process_id: i32,
        secret_key: Bytes,
    },
    NegotiateProtocolVersion {
        minor: i32,
        unrecognized: Vec<String>,
    },
    ReadyForQuery {
        /// `I` idle, `T` in a transaction, `E` in a failed transaction.
        status: TxStatus,
    },
    RowDescription {
        fields: Vec<Field>,
    },
    DataRow {
        values: Vec<Option<Bytes>>,
    },
    CommandComplete {
        tag: String,
    },
    EmptyQueryResponse,
    ErrorResponse {
        fields: Vec<Notice>,
    },
    NoticeResponse {
        fields: Vec<Notice>,
    },
    NotificationResponse {
        process_id: i32,
        channel: String,
        payload: String,
    },
    ParseComplete,
    BindComplete,
    CloseComplete,
    NoData,
    PortalSuspended,
    ParameterDescription {
        types: Vec<u32>,
    },
    CopyInResponse {
        format: i8,
        column_formats: Vec<i16>,
    },
    CopyOutResponse {
        format: i8,
        column_formats: Vec<i16>,
    },
    CopyBothResponse {
        format: i8,
        column_formats: Vec<i16>,
    },
    CopyData {
        data: Bytes,
    },
    CopyDone,
    /// `V`: the answer to a FunctionCall; kept whole.
    FunctionCallResponse {
        body: Bytes,
    },
}

/// What Describe and Close name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    #[serde(rename = "statement")]
    Statement,
    #[serde(rename = "portal")]
    Portal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxStatus {
    #[serde(rename = "idle")]
    Idle,
    #[serde(rename = "transaction")]
    InTransaction,
    #[serde(rename = "failed")]
    Failed,
}

/// One column of a RowDescription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub table_oid: u32,
    pub column: i16,
    pub type_oid: u32,
    pub type_size: i16,
    pub type_modifier: i32,
    /// 0 text, 1 binary.
    pub format: i16,
}

/// One field of an ErrorResponse or NoticeResponse: its one-letter code (`S`
/// severity, `C` SQLSTATE, `M` message, ...) and value, in the order sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub code: char,
    pub value: String,
}

impl FrontendMessage {
    /// The message's name as the Postgres documentation spells it.
    pub fn name(&self) -> &'static str {
        codec::frontend_name(self)
    }
}

impl BackendMessage {
    /// The message's name as the Postgres documentation spells it.
    pub fn name(&self) -> &'static str {
        codec::backend_name(self)
    }

    /// The COPY response a tag names: `G` in, `H` out, else `W` both.
    pub fn copy_response(tag: u8, format: i8, column_formats: Vec<i16>) -> Self {
        match tag {
            b'G' => BackendMessage::CopyInResponse {
                format,
                column_formats,
            },
            b'H' => BackendMessage::CopyOutResponse {
                format,
                column_formats,
            },
            _ => BackendMessage::CopyBothResponse {
                format,
                column_formats,
            },
        }
    }

    /// The field with code `code` of an ErrorResponse or NoticeResponse.
    pub fn notice_field(&self, code: char) -> Option<&str> {
        match self {
            BackendMessage::ErrorResponse { fields }
            | BackendMessage::NoticeResponse { fields } => fields
                .iter()
                .find(|f| f.code == code)
                .map(|f| f.value.as_str()),
            _ => None,
        }
    }
}

/// Whether Bind parameter `i` is in binary format, by Bind's format codes
/// (none: all text; one: it holds for all; else one a parameter).
pub fn is_binary_param(param_formats: &[i16], i: usize) -> bool {
    match param_formats {
        [] => false,
        [one] => *one == 1,
        many => many.get(i) == Some(&1),
    }
}

/// The fields of an ErrorResponse that reel itself sends: severity (also as
/// the non-localized `V`), SQLSTATE and message.
pub fn error_fields(severity: &str, sqlstate: &str, message: &str) -> Vec<Notice> {
    [
        ('S', severity),
        ('V', severity),
        ('C', sqlstate),
        ('M', message),
    ]
    .into_iter()
    .map(|(code, value)| Notice {
        code,
        value: value.to_owned(),
    })
    .collect()
}
