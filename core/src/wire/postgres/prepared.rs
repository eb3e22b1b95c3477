//! Which SQL a connection's statement and portal names stand for.
//!
//! Drivers name prepared statements (`s0`, `sqlx_s_3`, or the unnamed one)
//! and reuse the names; a Bind, Describe, Execute or Close refers to them.
//! Following one connection's messages in order tells which SQL each of those
//! means. The generator does it over a recording, the replay mock over what
//! the app sends, so both see the same statement under different names.

use std::collections::HashMap;

use super::{FrontendMessage, Target};

/// One connection's statement and portal names.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    statements: HashMap<String, String>,
    portals: HashMap<String, String>,
}

impl Prepared {
    /// Takes note of `msg` (a Parse names a statement, a Bind a portal) and
    /// returns the SQL of the statement it refers to, if it refers to one that
    /// is known.
    pub fn follow(&mut self, msg: &FrontendMessage) -> Option<String> {
        match msg {
            FrontendMessage::Parse { statement, sql, .. } => {
                self.statements.insert(statement.clone(), sql.clone());
                None
            }
            FrontendMessage::Bind {
                portal, statement, ..
            } => {
                let sql = self.statements.get(statement).cloned();
                if let Some(sql) = &sql {
                    self.portals.insert(portal.clone(), sql.clone());
                }
                sql
            }
            FrontendMessage::Describe { kind, name } | FrontendMessage::Close { kind, name } => {
                match kind {
                    Target::Statement => self.statements.get(name).cloned(),
                    Target::Portal => self.portals.get(name).cloned(),
                }
            }
            FrontendMessage::Execute { portal, .. } => self.portals.get(portal).cloned(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lead_to_their_sql_through_parse_and_bind() {
        let mut p = Prepared::default();
        let parse = FrontendMessage::Parse {
            statement: "s0".into(),
            sql: "select $1".into(),
            param_types: vec![],
        };
        assert_eq!(p.follow(&parse), None);
        let bind = FrontendMessage::Bind {
            portal: "p".into(),
            statement: "s0".into(),
            param_formats: vec![],
            params: vec![],
            result_formats: vec![],
        };
        assert_eq!(p.follow(&bind).as_deref(), Some("select $1"));
        let execute = FrontendMessage::Execute {
            portal: "p".into(),
            max_rows: 0,
        };
        assert_eq!(p.follow(&execute).as_deref(), Some("select $1"));
        let unknown = FrontendMessage::Describe {
            kind: Target::Statement,
            name: "s9".into(),
        };
        assert_eq!(p.follow(&unknown), None);
    }
}
