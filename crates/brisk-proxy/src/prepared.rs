//! Named prepared statements in transaction mode.
//!
//! A client prepares `s1` once and uses it for the rest of its session, but each of its
//! transactions may run on a different server. brisk names every statement by its content
//! (`brisk_` + a hash of its query and parameter types), remembers each client's names, and
//! prepares a statement on a server the first time a client needs it there. Servers keep a
//! bounded set of statements (`max_prepared_statements`) and close the least recently used.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A statement as a client prepared it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// brisk's name for it on every server.
    pub server_name: Arc<str>,
    pub query: Arc<str>,
    /// The raw parameter-type section of the client's Parse.
    pub param_types: Bytes,
}

impl Statement {
    pub fn new(query: &str, param_types: &[u8]) -> Statement {
        let mut hash = Sha256::new();
        hash.update(query.as_bytes());
        hash.update([0]);
        hash.update(param_types);
        let digest = hash.finalize();
        // 128 bits: two different statements never share a name in practice.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut name = String::with_capacity(6 + 32);
        name.push_str("brisk_");
        for byte in &digest[..16] {
            name.push(HEX[usize::from(byte >> 4)] as char);
            name.push(HEX[usize::from(byte & 0xf)] as char);
        }
        Statement {
            server_name: name.into(),
            query: query.into(),
            param_types: Bytes::copy_from_slice(param_types),
        }
    }
}

/// One client's prepared statements, by the names it gave them.
#[derive(Debug, Default)]
pub struct ClientStatements {
    by_name: HashMap<String, Statement>,
}

impl ClientStatements {
    pub fn get(&self, name: &str) -> Option<&Statement> {
        self.by_name.get(name)
    }

    pub fn insert(&mut self, name: &str, statement: Statement) {
        self.by_name.insert(name.to_string(), statement);
    }

    pub fn remove(&mut self, name: &str) -> Option<Statement> {
        self.by_name.remove(name)
    }
}

/// The statements prepared on one server, least recently used first out.
#[derive(Debug)]
pub struct ServerStatements {
    capacity: usize,
    /// Name to the tick it was last used.
    used: HashMap<Arc<str>, u64>,
    tick: u64,
}

impl ServerStatements {
    pub fn new(capacity: usize) -> ServerStatements {
        ServerStatements {
            capacity: capacity.max(1),
            used: HashMap::new(),
            tick: 0,
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.used.contains_key(name)
    }

    /// Marks `name` used now.
    pub fn touch(&mut self, name: &str) {
        self.tick += 1;
        if let Some(t) = self.used.get_mut(name) {
            *t = self.tick;
        }
    }

    /// Records that `name` is now prepared; returns the names to close to stay within the
    /// capacity.
    pub fn insert(&mut self, name: Arc<str>) -> Vec<Arc<str>> {
        self.tick += 1;
        self.used.insert(name, self.tick);
        let mut evicted = Vec::new();
        while self.used.len() > self.capacity {
            let Some(oldest) = self
                .used
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(n, _)| n.clone())
            else {
                break;
            };
            self.used.remove(&oldest);
            evicted.push(oldest);
        }
        evicted
    }

    pub fn remove(&mut self, name: &str) {
        self.used.remove(name);
    }

    /// The server forgot every statement (DISCARD ALL, DEALLOCATE ALL).
    pub fn clear(&mut self) {
        self.used.clear();
    }

    pub fn len(&self) -> usize {
        self.used.len()
    }

    pub fn is_empty(&self) -> bool {
        self.used.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_named_by_content() {
        let a = Statement::new("SELECT $1", &[0, 1, 0, 0, 0, 23]);
        let b = Statement::new("SELECT $1", &[0, 1, 0, 0, 0, 23]);
        let c = Statement::new("SELECT $1", &[0, 1, 0, 0, 0, 25]);
        assert_eq!(a.server_name, b.server_name);
        assert_ne!(a.server_name, c.server_name);
        assert!(a.server_name.starts_with("brisk_"));
        assert_eq!(a.server_name.len(), 38);
    }

    #[test]
    fn servers_keep_the_most_recently_used() {
        let mut server = ServerStatements::new(2);
        assert!(server.insert("a".into()).is_empty());
        assert!(server.insert("b".into()).is_empty());
        server.touch("a");
        assert_eq!(server.insert("c".into()), vec![Arc::<str>::from("b")]);
        assert!(server.contains("a") && server.contains("c") && !server.contains("b"));
    }
}
