//! The connection phase: the server's greeting (protocol version 10), the
//! capability flags both sides state, and the greeting as the recorder
//! forwards it (no TLS, no compression offered).

use super::read::Reader;

/// Capability flags (`CLIENT_*`), as the server offers them and the client
/// takes them up.
pub mod caps {
    pub const LONG_PASSWORD: u32 = 1;
    pub const FOUND_ROWS: u32 = 1 << 1;
    pub const LONG_FLAG: u32 = 1 << 2;
    pub const CONNECT_WITH_DB: u32 = 1 << 3;
    pub const COMPRESS: u32 = 1 << 5;
    pub const LOCAL_FILES: u32 = 1 << 7;
    pub const PROTOCOL_41: u32 = 1 << 9;
    pub const SSL: u32 = 1 << 11;
    pub const TRANSACTIONS: u32 = 1 << 13;
    pub const SECURE_CONNECTION: u32 = 1 << 15;
    pub const MULTI_STATEMENTS: u32 = 1 << 16;
    pub const MULTI_RESULTS: u32 = 1 << 17;
    pub const PS_MULTI_RESULTS: u32 = 1 << 18;
    pub const PLUGIN_AUTH: u32 = 1 << 19;
    pub const CONNECT_ATTRS: u32 = 1 << 20;
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 1 << 21;
    pub const SESSION_TRACK: u32 = 1 << 23;
    pub const DEPRECATE_EOF: u32 = 1 << 24;
    pub const OPTIONAL_RESULTSET_METADATA: u32 = 1 << 25;
    pub const ZSTD_COMPRESSION: u32 = 1 << 26;
    pub const QUERY_ATTRIBUTES: u32 = 1 << 27;
}

/// MariaDB's own capabilities, which a MariaDB server states in the
/// greeting's last four reserved bytes and a client in its answer's last
/// four filler bytes, both then leaving `LONG_PASSWORD` (`CLIENT_MYSQL`)
/// clear; bit 0 here is bit 32 of MariaDB's documents.
pub mod mariadb_caps {
    pub const PROGRESS: u32 = 1;
    pub const COM_MULTI: u32 = 1 << 1;
    pub const STMT_BULK_OPERATIONS: u32 = 1 << 2;
    pub const EXTENDED_TYPE_INFO: u32 = 1 << 3;
    pub const CACHE_METADATA: u32 = 1 << 4;
    pub const BULK_UNIT_RESULTS: u32 = 1 << 5;
}

/// The server's first payload, protocol version 10, field by field; what it
/// does not describe (MariaDB's extended capabilities in the reserved
/// bytes, a plugin name with no terminating NUL) is kept so that
/// [`Greeting::encode`] gives the same bytes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub server_version: Vec<u8>,
    pub connection_id: u32,
    /// The scramble's first eight bytes.
    pub auth_data_1: [u8; 8],
    /// The byte after them, zero from every server seen; kept as sent.
    pub filler: u8,
    /// The lower and upper capability flags together.
    pub capabilities: u32,
    /// What follows the lower capability flags, when anything does.
    pub rest: Option<GreetingRest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreetingRest {
    pub charset: u8,
    pub status: u16,
    /// The scramble's whole length as stated (0 without `PLUGIN_AUTH`).
    pub auth_data_len: u8,
    /// Ten bytes MySQL leaves zero; MariaDB puts its own capabilities in the
    /// last four.
    pub reserved: [u8; 10],
    /// The scramble's second part, as sent (its NUL too).
    pub auth_data_2: Vec<u8>,
    /// The authentication plugin the server starts with.
    pub auth_plugin: Option<Vec<u8>>,
    /// The plugin name ended in a NUL (some servers end the payload instead).
    pub plugin_nul: bool,
}

impl Greeting {
    /// Reads a greeting payload; why not, as text.
    pub fn parse(p: &[u8]) -> Result<Greeting, String> {
        let mut r = Reader { p, at: 0 };
        let version = r.u8("the protocol version")?;
        if version != 10 {
            return Err(format!(
                "protocol version {version}, where reel reads 10 (MySQL 3.21 and later, MariaDB)"
            ));
        }
        let server_version = r.nul("the server version")?.to_vec();
        let connection_id = u32::from_le_bytes(r.array("the connection id")?);
        let auth_data_1 = r.array("the scramble")?;
        let filler = r.u8("the filler after the scramble")?;
        let lower = u16::from_le_bytes(r.array("the capability flags")?);
        let mut g = Greeting {
            server_version,
            connection_id,
            auth_data_1,
            filler,
            capabilities: u32::from(lower),
            rest: None,
        };
        if r.at == p.len() {
            return Ok(g);
        }
        let charset = r.u8("the character set")?;
        let status = u16::from_le_bytes(r.array("the status flags")?);
        let upper = u16::from_le_bytes(r.array("the upper capability flags")?);
        g.capabilities |= u32::from(upper) << 16;
        let auth_data_len = r.u8("the scramble's length")?;
        let reserved = r.array("the reserved bytes")?;
        let auth_data_2 = if g.capabilities & caps::SECURE_CONNECTION != 0 {
            let n = (usize::from(auth_data_len).saturating_sub(8)).max(13);
            r.take(n.min(p.len() - r.at), "the scramble's second part")?
                .to_vec()
        } else {
            Vec::new()
        };
        let (auth_plugin, plugin_nul) = if g.capabilities & caps::PLUGIN_AUTH != 0 {
            let rest = &p[r.at..];
            match rest.iter().position(|&b| b == 0) {
                Some(i) => {
                    r.at += i + 1;
                    (Some(rest[..i].to_vec()), true)
                }
                None => {
                    r.at = p.len();
                    (Some(rest.to_vec()), false)
                }
            }
        } else {
            (None, false)
        };
        if r.at != p.len() {
            return Err(format!(
                "{} bytes after the authentication plugin's name",
                p.len() - r.at
            ));
        }
        g.rest = Some(GreetingRest {
            charset,
            status,
            auth_data_len,
            reserved,
            auth_data_2,
            auth_plugin,
            plugin_nul,
        });
        Ok(g)
    }

    /// The payload it was read from.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(10);
        out.extend_from_slice(&self.server_version);
        out.push(0);
        out.extend_from_slice(&self.connection_id.to_le_bytes());
        out.extend_from_slice(&self.auth_data_1);
        out.push(self.filler);
        out.extend_from_slice(&(self.capabilities as u16).to_le_bytes());
        let Some(r) = &self.rest else {
            return;
        };
        out.push(r.charset);
        out.extend_from_slice(&r.status.to_le_bytes());
        out.extend_from_slice(&((self.capabilities >> 16) as u16).to_le_bytes());
        out.push(r.auth_data_len);
        out.extend_from_slice(&r.reserved);
        out.extend_from_slice(&r.auth_data_2);
        if let Some(name) = &r.auth_plugin {
            out.extend_from_slice(name);
            if r.plugin_nul {
                out.push(0);
            }
        }
    }

    /// MariaDB's capabilities, when the server states them.
    pub fn mariadb_caps(&self) -> u32 {
        match (&self.rest, self.capabilities & caps::LONG_PASSWORD) {
            (Some(r), 0) => u32::from_le_bytes(r.reserved[6..10].try_into().expect("4 bytes")),
            _ => 0,
        }
    }

    /// The greeting with `mask`'s MariaDB capabilities no longer offered;
    /// whether any was.
    pub fn withdraw_mariadb(&mut self, mask: u32) -> bool {
        let offered = self.mariadb_caps() & mask;
        if let (Some(r), true) = (&mut self.rest, offered != 0) {
            let left = u32::from_le_bytes(r.reserved[6..10].try_into().expect("4 bytes")) & !mask;
            r.reserved[6..10].copy_from_slice(&left.to_le_bytes());
        }
        offered != 0
    }

    /// The greeting as the recorder forwards it: with `mask`'s
    /// capabilities no longer offered (`SSL`: reel does not speak TLS to
    /// the app, which then stays plain; `COMPRESS` and `ZSTD_COMPRESSION`:
    /// reel reads packets as they are). Whether any was offered.
    pub fn withdraw(&mut self, mask: u32) -> bool {
        let offered = self.capabilities & mask != 0;
        self.capabilities &= !mask;
        offered
    }
}

/// How a client wrote its authentication response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthForm {
    /// A length-encoded integer's bytes, then the response
    /// (`PLUGIN_AUTH_LENENC_CLIENT_DATA`).
    Lenenc(Vec<u8>),
    /// One length byte, then the response (`SECURE_CONNECTION`).
    Short,
    /// The response, then a NUL (old clients).
    Nul,
}

/// The client's answer to the greeting (`HandshakeResponse41`), field by
/// field, written back to its exact bytes by [`ClientHello::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    pub capabilities: u32,
    pub max_packet: u32,
    pub charset: u8,
    /// 23 bytes MySQL leaves zero; MariaDB puts its own capabilities in the
    /// last four.
    pub filler: [u8; 23],
    pub user: Vec<u8>,
    /// The password's scramble (or a plugin's first data): never stored
    /// with `--redact`, never in a suite.
    pub auth_response: Vec<u8>,
    pub auth_form: AuthForm,
    /// With `CONNECT_WITH_DB`.
    pub database: Option<Vec<u8>>,
    /// With `PLUGIN_AUTH`.
    pub auth_plugin: Option<Vec<u8>>,
    /// With `CONNECT_ATTRS`: the block as sent, its length first.
    pub attrs: Option<Vec<u8>>,
}

impl ClientHello {
    /// Whether `payload` is an `SSLRequest`: the first 32 bytes of an
    /// answer, asking for TLS before the rest.
    pub fn is_ssl_request(payload: &[u8]) -> bool {
        payload.len() == 32
            && u32::from_le_bytes(payload[..4].try_into().expect("4 bytes")) & caps::SSL != 0
    }

    /// MariaDB's capabilities the client takes up.
    pub fn mariadb_caps(&self) -> u32 {
        match self.capabilities & caps::LONG_PASSWORD {
            0 => u32::from_le_bytes(self.filler[19..23].try_into().expect("4 bytes")),
            _ => 0,
        }
    }

    /// Reads a `HandshakeResponse41`; why not, as text.
    pub fn parse(p: &[u8]) -> Result<ClientHello, String> {
        let mut r = Reader { p, at: 0 };
        let capabilities = u32::from_le_bytes(r.array("the capability flags")?);
        if capabilities & caps::PROTOCOL_41 == 0 {
            return Err(
                "a client of the protocol before 4.1 (no PROTOCOL_41), which reel does not read"
                    .into(),
            );
        }
        let max_packet = u32::from_le_bytes(r.array("the largest packet")?);
        let charset = r.u8("the character set")?;
        let filler = r.array("the filler")?;
        let user = r.nul("the user name")?.to_vec();
        let (auth_response, auth_form) = if capabilities & caps::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0
        {
            let start = r.at;
            let n = r.lenenc("the authentication response's length")?;
            let prefix = p[start..r.at].to_vec();
            let n = usize::try_from(n).map_err(|_| "an authentication response too long")?;
            (
                r.take(n, "the authentication response")?.to_vec(),
                AuthForm::Lenenc(prefix),
            )
        } else if capabilities & caps::SECURE_CONNECTION != 0 {
            let n = r.u8("the authentication response's length")?;
            (
                r.take(usize::from(n), "the authentication response")?
                    .to_vec(),
                AuthForm::Short,
            )
        } else {
            (
                r.nul("the authentication response")?.to_vec(),
                AuthForm::Nul,
            )
        };
        let database = match capabilities & caps::CONNECT_WITH_DB != 0 {
            true => Some(r.nul("the database name")?.to_vec()),
            false => None,
        };
        let auth_plugin = match capabilities & caps::PLUGIN_AUTH != 0 {
            true => Some(r.nul("the authentication plugin's name")?.to_vec()),
            false => None,
        };
        let attrs = match capabilities & caps::CONNECT_ATTRS != 0 {
            true => {
                let start = r.at;
                let n = r.lenenc("the connection attributes' length")?;
                let n = usize::try_from(n).map_err(|_| "connection attributes too long")?;
                r.take(n, "the connection attributes")?;
                Some(p[start..r.at].to_vec())
            }
            false => None,
        };
        if r.at != p.len() {
            return Err(format!(
                "{} bytes after the handshake response's last field",
                p.len() - r.at
            ));
        }
        Ok(ClientHello {
            capabilities,
            max_packet,
            charset,
            filler,
            user,
            auth_response,
            auth_form,
            database,
            auth_plugin,
            attrs,
        })
    }

    /// The payload it was read from.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.capabilities.to_le_bytes());
        out.extend_from_slice(&self.max_packet.to_le_bytes());
        out.push(self.charset);
        out.extend_from_slice(&self.filler);
        out.extend_from_slice(&self.user);
        out.push(0);
        match &self.auth_form {
            AuthForm::Lenenc(prefix) => {
                out.extend_from_slice(prefix);
                out.extend_from_slice(&self.auth_response);
            }
            AuthForm::Short => {
                out.push(self.auth_response.len() as u8);
                out.extend_from_slice(&self.auth_response);
            }
            AuthForm::Nul => {
                out.extend_from_slice(&self.auth_response);
                out.push(0);
            }
        }
        for name in [&self.database, &self.auth_plugin].into_iter().flatten() {
            out.extend_from_slice(name);
            out.push(0);
        }
        if let Some(attrs) = &self.attrs {
            out.extend_from_slice(attrs);
        }
    }
}
