//! What the cache must know of a database's catalog, read in one round trip per database
//! and read again after DDL brisk relays: relations (kind, persistence, row-level
//! security, rules), the base tables of views, foreign keys that cascade, user triggers and
//! their functions, and every function's volatility.

use std::collections::{HashMap, HashSet};

use brisk_sql::TableName;

/// One query, five text columns: a row kind and four values. A UNION ALL keeps it to one
/// round trip on the client's own server connection.
pub const CATALOG_QUERY: &str = "\
SELECT 'r', n.nspname::text, c.relname::text, c.relkind::text || c.relpersistence::text \
 || CASE WHEN c.relrowsecurity THEN 's' ELSE '-' END || CASE WHEN c.relhasrules THEN 'u' ELSE '-' END, NULL::text \
 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','v','m','f') \
UNION ALL \
SELECT DISTINCT 'v', vn.nspname::text, v.relname::text, tn.nspname::text, t.relname::text \
 FROM pg_rewrite rw JOIN pg_class v ON v.oid = rw.ev_class JOIN pg_namespace vn ON vn.oid = v.relnamespace \
 JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid AND d.refclassid = 'pg_class'::regclass \
 JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace \
 WHERE v.relkind IN ('v','m') AND t.oid <> v.oid AND t.relkind IN ('r','p','v','m','f') \
UNION ALL \
SELECT 'f', rn.nspname::text, r.relname::text, cn.nspname::text, c.relname::text \
 FROM pg_constraint k JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace \
 JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace \
 WHERE k.contype = 'f' AND (k.confdeltype IN ('c','n','d') OR k.confupdtype IN ('c','n','d')) \
UNION ALL \
SELECT 't', n.nspname::text, c.relname::text, tg.tgfoid::text, NULL \
 FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
 WHERE NOT tg.tgisinternal \
UNION ALL \
SELECT 'p', n.nspname::text, p.proname::text, p.provolatile::text || l.lanname::text, \
 CASE WHEN p.prorettype = 'trigger'::regtype THEN p.oid::text || ' ' || p.prosrc END \
 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang";

/// A relation's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub schema: String,
    pub kind: char,
    pub persistence: char,
    pub row_security: bool,
    pub rules: bool,
}

#[derive(Debug, Clone)]
struct Function {
    schema: String,
    volatility: char,
}

#[derive(Debug, Clone)]
struct TriggerFunction {
    language: String,
    source: String,
}

/// Where a write must be announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteKeys {
    /// These tables' versions (qualified, `schema.name`).
    Tables(Vec<String>),
    /// The database-wide epoch, for this reason.
    Epoch(String),
}

/// One database's catalog, as the cache needs it.
#[derive(Debug, Default)]
pub struct Catalog {
    relations: HashMap<String, Vec<Relation>>,
    view_bases: HashMap<String, Vec<String>>,
    cascades: HashMap<String, Vec<String>>,
    triggers: HashMap<String, Vec<u32>>,
    functions: HashMap<String, Vec<Function>>,
    trigger_functions: HashMap<u32, TriggerFunction>,
}

fn qualified(schema: &str, name: &str) -> String {
    format!("{schema}.{name}")
}

fn is_system_schema(schema: &str) -> bool {
    schema == "pg_catalog" || schema == "information_schema" || schema.starts_with("pg_toast")
}

impl Catalog {
    /// Reads the rows [`CATALOG_QUERY`] returns; rows it cannot read are skipped.
    pub fn from_rows(rows: &[Vec<Option<String>>]) -> Catalog {
        let mut catalog = Catalog::default();
        for row in rows {
            let field = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
            let (kind, a, b, c, d) = (field(0), field(1), field(2), field(3), field(4));
            match kind.as_str() {
                "r" => {
                    let flags: Vec<char> = c.chars().collect();
                    if flags.len() < 4 {
                        continue;
                    }
                    catalog.relations.entry(b).or_default().push(Relation {
                        schema: a,
                        kind: flags[0],
                        persistence: flags[1],
                        row_security: flags[2] == 's',
                        rules: flags[3] == 'u',
                    });
                }
                "v" => catalog
                    .view_bases
                    .entry(qualified(&a, &b))
                    .or_default()
                    .push(qualified(&c, &d)),
                "f" => catalog
                    .cascades
                    .entry(qualified(&a, &b))
                    .or_default()
                    .push(qualified(&c, &d)),
                "t" => {
                    if let Ok(oid) = c.parse() {
                        catalog
                            .triggers
                            .entry(qualified(&a, &b))
                            .or_default()
                            .push(oid);
                    }
                }
                "p" => {
                    let mut chars = c.chars();
                    let volatility = chars.next().unwrap_or('v');
                    let language: String = chars.collect();
                    catalog.functions.entry(b).or_default().push(Function {
                        schema: a,
                        volatility,
                    });
                    if let Some((oid, source)) = d.split_once(' ') {
                        if let Ok(oid) = oid.parse() {
                            catalog.trigger_functions.insert(
                                oid,
                                TriggerFunction {
                                    language,
                                    source: source.to_string(),
                                },
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        catalog
    }

    /// The relations a name may be: in its schema when written, else in any schema (a
    /// superset of what `search_path` picks, which is safe for invalidation).
    fn candidates(&self, table: &TableName) -> Vec<&Relation> {
        self.relations
            .get(&table.name)
            .map(|all| {
                all.iter()
                    .filter(|r| table.schema.as_deref().is_none_or(|s| s == r.schema))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The version keys a cacheable read depends on (views expanded to their base tables),
    /// or why its result may not be cached.
    pub fn read_keys(
        &self,
        tables: &[TableName],
        functions: &[String],
    ) -> Result<Vec<String>, String> {
        for name in functions {
            let Some(candidates) = self.functions.get(name) else {
                return Err(format!("unknown function {name}"));
            };
            if candidates.iter().any(|f| f.volatility != 'i') {
                return Err(format!("function {name} is not immutable"));
            }
        }
        let mut keys = Vec::new();
        let mut seen = HashSet::new();
        for table in tables {
            let candidates = self.candidates(table);
            if candidates.is_empty() {
                return Err(format!("unknown table {table}"));
            }
            for relation in candidates {
                self.read_relation(&table.name, relation, &mut keys, &mut seen)?;
            }
        }
        Ok(keys)
    }

    fn read_relation(
        &self,
        name: &str,
        relation: &Relation,
        keys: &mut Vec<String>,
        seen: &mut HashSet<String>,
    ) -> Result<(), String> {
        let key = qualified(&relation.schema, name);
        if !seen.insert(key.clone()) {
            return Ok(());
        }
        if is_system_schema(&relation.schema) {
            return Err(format!("system catalog {key}"));
        }
        match relation.persistence {
            't' => return Err(format!("temporary table {key}")),
            'u' => return Err(format!("unlogged table {key}")),
            _ => {}
        }
        if relation.row_security {
            return Err(format!("row-level security on {key}"));
        }
        if relation.kind == 'f' {
            return Err(format!("foreign table {key}"));
        }
        if relation.kind == 'v' {
            for base in self.view_bases.get(&key).into_iter().flatten() {
                let Some((schema, base_name)) = base.split_once('.') else {
                    continue;
                };
                let table = TableName::qualified(schema, base_name);
                for base_relation in self.candidates(&table) {
                    self.read_relation(base_name, base_relation, keys, seen)?;
                }
            }
            return Ok(());
        }
        keys.push(key);
        Ok(())
    }

    /// Whether `functions` (called by a statement that reads) may write: a volatile function
    /// outside `pg_catalog`, or one the catalog does not know.
    pub fn may_write(&self, functions: &[String]) -> Option<String> {
        functions
            .iter()
            .find_map(|name| match self.functions.get(name) {
                None => Some(format!("unknown function {name}")),
                Some(all) => all
                    .iter()
                    .any(|f| f.volatility == 'v' && !is_system_schema(&f.schema))
                    .then(|| format!("volatile function {name}")),
            })
    }

    /// The version keys a write to `tables` must bump: the tables, the base tables of views
    /// written through, the tables foreign keys cascade to, and those triggers may write;
    /// the epoch when that cannot be known.
    pub fn write_keys(&self, tables: &[TableName]) -> WriteKeys {
        let mut keys = Vec::new();
        let mut seen = HashSet::new();
        let mut queue: Vec<TableName> = tables.to_vec();
        while let Some(table) = queue.pop() {
            let candidates = self.candidates(&table);
            if candidates.is_empty() {
                return WriteKeys::Epoch(format!("write to unknown table {table}"));
            }
            for relation in candidates {
                let key = qualified(&relation.schema, &table.name);
                if !seen.insert(key.clone()) {
                    continue;
                }
                if relation.rules && relation.kind != 'v' && relation.kind != 'm' {
                    return WriteKeys::Epoch(format!("rules on {key}"));
                }
                for base in self.view_bases.get(&key).into_iter().flatten() {
                    queue.push(split(base));
                }
                for referencing in self.cascades.get(&key).into_iter().flatten() {
                    queue.push(split(referencing));
                }
                for oid in self.triggers.get(&key).into_iter().flatten() {
                    match self.trigger_writes(*oid) {
                        Ok(tables) => queue.extend(tables),
                        Err(why) => return WriteKeys::Epoch(format!("trigger on {key}: {why}")),
                    }
                }
                keys.push(key);
            }
        }
        WriteKeys::Tables(keys)
    }

    /// Every table a trigger function could name: the identifiers of its body that are
    /// relations. Dynamic SQL, user functions it calls, or a language brisk cannot read make
    /// it unknowable.
    fn trigger_writes(&self, oid: u32) -> Result<Vec<TableName>, String> {
        let Some(function) = self.trigger_functions.get(&oid) else {
            return Err("unknown function".into());
        };
        if function.language != "plpgsql" && function.language != "sql" {
            return Err(format!("a {} function", function.language));
        }
        let mut tables = Vec::new();
        for token in brisk_sql::Lexer::new(&function.source) {
            let word = match token.kind {
                brisk_sql::TokenKind::Identifier => token.text.to_ascii_lowercase(),
                brisk_sql::TokenKind::QuotedIdentifier => {
                    token.text.trim_matches('"').replace("\"\"", "\"")
                }
                _ => continue,
            };
            if word == "execute" {
                return Err("dynamic SQL (EXECUTE)".into());
            }
            if self.relations.contains_key(&word) {
                tables.push(TableName::new(&word));
            }
            if let Some(all) = self.functions.get(&word) {
                if all.iter().any(|f| !is_system_schema(&f.schema)) {
                    return Err(format!("it calls {word}"));
                }
            }
        }
        Ok(tables)
    }
}

fn split(qualified: &str) -> TableName {
    match qualified.split_once('.') {
        Some((schema, name)) => TableName::qualified(schema, name),
        None => TableName::new(qualified),
    }
}
