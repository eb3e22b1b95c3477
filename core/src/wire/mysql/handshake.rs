//! The connection phase: the server's greeting (protocol version 10), the
//! capability flags both sides state, and the greeting as the recorder
//! forwards it (no TLS, no compression offered).

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
    pub const ZSTD_COMPRESSION: u32 = 1 << 26;
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
        r.u8("the filler after the scramble")?;
        let lower = u16::from_le_bytes(r.array("the capability flags")?);
        let mut g = Greeting {
            server_version,
            connection_id,
            auth_data_1,
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
        out.push(0);
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

/// Reads a payload front to back, naming what it lacks.
struct Reader<'a> {
    p: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.p.len());
        let Some(end) = end else {
            return Err(format!("the payload ends before {what}"));
        };
        let s = &self.p[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let s = self.take(N, what)?;
        Ok(s.try_into().expect("N bytes"))
    }

    fn nul(&mut self, what: &str) -> Result<&'a [u8], String> {
        let rest = &self.p[self.at..];
        let Some(i) = rest.iter().position(|&b| b == 0) else {
            return Err(format!("{what} has no terminating NUL"));
        };
        self.at += i + 1;
        Ok(&rest[..i])
    }
}
