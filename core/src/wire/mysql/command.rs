//! What a client asks once connected: one command per payload, sequence id
//! 0, its first byte naming it (`COM_QUERY`, `COM_STMT_EXECUTE`, ...).

/// A command, field by field; [`Command::encode`] gives its bytes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `COM_QUIT`
    Quit,
    /// `COM_INIT_DB`: the database to use.
    InitDb(Vec<u8>),
    /// `COM_QUERY`: SQL text (with `QUERY_ATTRIBUTES`, MySQL 8 puts the
    /// attributes before it; kept in the text as sent).
    Query(Vec<u8>),
    /// `COM_PING`
    Ping,
    /// `COM_CHANGE_USER`: user, authentication data, database, ... as sent
    /// (its authentication data is a password's scramble).
    ChangeUser(Vec<u8>),
    /// `COM_STMT_PREPARE`: SQL text with `?` placeholders.
    StmtPrepare(Vec<u8>),
    /// `COM_STMT_EXECUTE`: the statement, cursor flags, iteration count
    /// (always 1), then the parameters as sent (a NULL bitmap, whether
    /// types follow, types, values), which only the statement's parameter
    /// count from its prepare makes readable.
    StmtExecute {
        stmt_id: u32,
        flags: u8,
        iterations: u32,
        params: Vec<u8>,
    },
    /// `COM_STMT_SEND_LONG_DATA`: a piece of one parameter's value.
    StmtSendLongData {
        stmt_id: u32,
        param: u16,
        data: Vec<u8>,
    },
    /// `COM_STMT_CLOSE` (no answer).
    StmtClose(u32),
    /// `COM_STMT_RESET`
    StmtReset(u32),
    /// `COM_SET_OPTION`: multi-statements on (0) or off (1).
    SetOption(u16),
    /// `COM_STMT_FETCH`: rows from an open cursor.
    StmtFetch { stmt_id: u32, rows: u32 },
    /// `COM_RESET_CONNECTION`
    ResetConnection,
    /// Any other command, as sent: its code and what follows.
    Other { code: u8, body: Vec<u8> },
}

/// Command codes.
mod code {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const PING: u8 = 0x0e;
    pub const CHANGE_USER: u8 = 0x11;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1a;
    pub const SET_OPTION: u8 = 0x1b;
    pub const STMT_FETCH: u8 = 0x1c;
    pub const RESET_CONNECTION: u8 = 0x1f;
}

/// The name of command code `c`, as the protocol's documents write it.
pub fn command_name(c: u8) -> &'static str {
    const NAMES: [&str; 0x20] = [
        "COM_SLEEP",
        "COM_QUIT",
        "COM_INIT_DB",
        "COM_QUERY",
        "COM_FIELD_LIST",
        "COM_CREATE_DB",
        "COM_DROP_DB",
        "COM_REFRESH",
        "COM_SHUTDOWN",
        "COM_STATISTICS",
        "COM_PROCESS_INFO",
        "COM_CONNECT",
        "COM_PROCESS_KILL",
        "COM_DEBUG",
        "COM_PING",
        "COM_TIME",
        "COM_DELAYED_INSERT",
        "COM_CHANGE_USER",
        "COM_BINLOG_DUMP",
        "COM_TABLE_DUMP",
        "COM_CONNECT_OUT",
        "COM_REGISTER_SLAVE",
        "COM_STMT_PREPARE",
        "COM_STMT_EXECUTE",
        "COM_STMT_SEND_LONG_DATA",
        "COM_STMT_CLOSE",
        "COM_STMT_RESET",
        "COM_SET_OPTION",
        "COM_STMT_FETCH",
        "COM_DAEMON",
        "COM_BINLOG_DUMP_GTID",
        "COM_RESET_CONNECTION",
    ];
    NAMES.get(usize::from(c)).copied().unwrap_or("COM_UNKNOWN")
}

impl Command {
    /// Reads a command payload; why not, as text naming the command.
    pub fn parse(p: &[u8]) -> Result<Command, String> {
        let Some((&c, body)) = p.split_first() else {
            return Err("an empty command".into());
        };
        let name = command_name(c);
        let exact = |n: usize| -> Result<&[u8], String> {
            match body.len() == n {
                true => Ok(body),
                false => Err(format!("{name} of {} bytes where it has {n}", body.len())),
            }
        };
        let at_least = |n: usize| -> Result<&[u8], String> {
            match body.len() >= n {
                true => Ok(body),
                false => Err(format!(
                    "{name} of {} bytes, shorter than its {n}",
                    body.len()
                )),
            }
        };
        let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4"));
        Ok(match c {
            code::QUIT => {
                exact(0)?;
                Command::Quit
            }
            code::PING => {
                exact(0)?;
                Command::Ping
            }
            code::RESET_CONNECTION => {
                exact(0)?;
                Command::ResetConnection
            }
            code::INIT_DB => Command::InitDb(body.to_vec()),
            code::QUERY => Command::Query(body.to_vec()),
            code::CHANGE_USER => Command::ChangeUser(body.to_vec()),
            code::STMT_PREPARE => Command::StmtPrepare(body.to_vec()),
            code::STMT_EXECUTE => {
                let b = at_least(9)?;
                Command::StmtExecute {
                    stmt_id: u32_at(b, 0),
                    flags: b[4],
                    iterations: u32_at(b, 5),
                    params: b[9..].to_vec(),
                }
            }
            code::STMT_SEND_LONG_DATA => {
                let b = at_least(6)?;
                Command::StmtSendLongData {
                    stmt_id: u32_at(b, 0),
                    param: u16::from_le_bytes([b[4], b[5]]),
                    data: b[6..].to_vec(),
                }
            }
            code::STMT_CLOSE => Command::StmtClose(u32_at(exact(4)?, 0)),
            code::STMT_RESET => Command::StmtReset(u32_at(exact(4)?, 0)),
            code::SET_OPTION => {
                let b = exact(2)?;
                Command::SetOption(u16::from_le_bytes([b[0], b[1]]))
            }
            code::STMT_FETCH => {
                let b = exact(8)?;
                Command::StmtFetch {
                    stmt_id: u32_at(b, 0),
                    rows: u32_at(b, 4),
                }
            }
            _ => Command::Other {
                code: c,
                body: body.to_vec(),
            },
        })
    }

    /// The command's code.
    pub fn code(&self) -> u8 {
        match self {
            Command::Quit => code::QUIT,
            Command::InitDb(_) => code::INIT_DB,
            Command::Query(_) => code::QUERY,
            Command::Ping => code::PING,
            Command::ChangeUser(_) => code::CHANGE_USER,
            Command::StmtPrepare(_) => code::STMT_PREPARE,
            Command::StmtExecute { .. } => code::STMT_EXECUTE,
            Command::StmtSendLongData { .. } => code::STMT_SEND_LONG_DATA,
            Command::StmtClose(_) => code::STMT_CLOSE,
            Command::StmtReset(_) => code::STMT_RESET,
            Command::SetOption(_) => code::SET_OPTION,
            Command::StmtFetch { .. } => code::STMT_FETCH,
            Command::ResetConnection => code::RESET_CONNECTION,
            Command::Other { code, .. } => *code,
        }
    }

    /// `COM_QUERY`, ... .
    pub fn name(&self) -> &'static str {
        command_name(self.code())
    }

    /// Whether the server answers it: all but `COM_STMT_CLOSE` and
    /// `COM_STMT_SEND_LONG_DATA` (and `COM_QUIT`, which the server answers
    /// by closing).
    pub fn answered(&self) -> bool {
        !matches!(
            self,
            Command::StmtClose(_) | Command::StmtSendLongData { .. } | Command::Quit
        )
    }

    /// The payload it was read from.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.code());
        match self {
            Command::Quit | Command::Ping | Command::ResetConnection => {}
            Command::InitDb(b)
            | Command::Query(b)
            | Command::ChangeUser(b)
            | Command::StmtPrepare(b)
            | Command::Other { body: b, .. } => out.extend_from_slice(b),
            Command::StmtExecute {
                stmt_id,
                flags,
                iterations,
                params,
            } => {
                out.extend_from_slice(&stmt_id.to_le_bytes());
                out.push(*flags);
                out.extend_from_slice(&iterations.to_le_bytes());
                out.extend_from_slice(params);
            }
            Command::StmtSendLongData {
                stmt_id,
                param,
                data,
            } => {
                out.extend_from_slice(&stmt_id.to_le_bytes());
                out.extend_from_slice(&param.to_le_bytes());
                out.extend_from_slice(data);
            }
            Command::StmtClose(id) | Command::StmtReset(id) => {
                out.extend_from_slice(&id.to_le_bytes())
            }
            Command::SetOption(o) => out.extend_from_slice(&o.to_le_bytes()),
            Command::StmtFetch { stmt_id, rows } => {
                out.extend_from_slice(&stmt_id.to_le_bytes());
                out.extend_from_slice(&rows.to_le_bytes());
            }
        }
    }
}
