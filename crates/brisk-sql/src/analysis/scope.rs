//! Name resolution without a catalog: which table reference a column reference belongs to.
//!
//! A [`Scope`] is a stack of query levels, innermost last. Each level holds the entries its
//! `FROM` clause brought into scope and the CTEs its `WITH` clause defined. A column reference
//! resolves as PostgreSQL resolves it, innermost level first, except that where PostgreSQL
//! would consult the catalog to learn whether a table has a column, resolution counts the
//! table as a candidate and gives up (`Unresolved`) when more than one candidate remains.

use std::ops::Range;

use super::expr::ColumnPath;
use super::TableName;

/// An index into the statement's list of table references.
pub(super) type RefId = usize;

/// Something a `FROM` clause brought into scope.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The name qualified references use: the alias, or the relation's or CTE's name. Empty
    /// for a subquery without an alias, which only unqualified references can reach.
    pub name: String,
    /// For a table named without an alias: the schema it was written with, which a
    /// three-part reference (`schema.table.column`) may repeat.
    pub schema: Option<String>,
    /// Whether `schema.table.column` can reach this entry: only tables without an alias.
    pub schema_qualifiable: bool,
    /// Whether unqualified references see it. A join's alias (`(a JOIN b) AS j`) names
    /// columns that `a` and `b` already offer, so only `j.col` reaches it.
    pub unqualified: bool,
    /// What the name stands for.
    pub source: Source,
}

/// What an entry stands for.
#[derive(Debug, Clone)]
pub(super) enum Source {
    /// A table: one reference in the statement's list, and the table's name.
    Table(RefId, TableName),
    /// A subquery, CTE or `VALUES` list, whose output columns are known.
    Derived(Derived),
    /// A function in `FROM`, a recursive CTE inside its own body, a join alias: it has these
    /// columns and possibly others, none of them a table's.
    Opaque(Vec<String>),
}

/// The output columns of a query, as a subquery or CTE offers them to the query around it.
#[derive(Debug, Clone, Default)]
pub(super) struct Derived {
    /// Named outputs, in order, with where their values come from.
    pub columns: Vec<(String, Origin)>,
    /// The entries a `*` (or `t.*`) in the target list expanded, whose columns are not
    /// known by name: `Some` when the target list had one.
    pub star: Option<Vec<Entry>>,
}

impl Derived {
    /// Renames the first outputs, as a column alias list (`AS t(a, b)`) does.
    pub fn rename(&mut self, names: &[&str]) {
        for ((name, _), new) in self.columns.iter_mut().zip(names) {
            *name = (*new).to_string();
        }
    }

    /// The same outputs, all computed: what a set operation (`UNION`, ...) offers, whose
    /// columns come from several queries. A `*` stays, over no entry: its columns are
    /// unknown.
    pub fn computed(&self) -> Derived {
        Derived {
            columns: self
                .columns
                .iter()
                .map(|(name, _)| (name.clone(), Origin::Computed))
                .collect(),
            star: self.star.as_ref().map(|_| Vec::new()),
        }
    }
}

/// Where a derived output column's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// Straight from a table reference's column.
    Column(RefId, String),
    /// An expression, an aggregate, a constant: no table column.
    Computed,
    /// A lone column that could not be tied to one table: neither can references to it.
    Unresolved,
}

/// What a column reference resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Resolved {
    /// A table reference's column.
    Column(RefId, String),
    /// A column of something that is not a table: a function's output, a computed subquery
    /// column.
    NotATable,
    /// More than one table could have it, or its qualifier names nothing in scope.
    Unresolved,
    /// Nothing in scope has it (for `GROUP BY`, which then tries output names).
    NotFound,
}

impl From<&Origin> for Resolved {
    fn from(origin: &Origin) -> Resolved {
        match origin {
            Origin::Column(reference, column) => Resolved::Column(*reference, column.clone()),
            Origin::Computed => Resolved::NotATable,
            Origin::Unresolved => Resolved::Unresolved,
        }
    }
}

/// Whether an entry has a column.
enum Lookup<'a> {
    /// It has: its output list names the column.
    Yes(Resolved),
    /// It may have: a table, whose columns only the catalog knows (named, so that two
    /// references to the same table can be told to have the same columns).
    Maybe(Resolved, Option<&'a TableName>),
    No,
}

impl Entry {
    fn lookup(&self, column: &str) -> Lookup<'_> {
        match &self.source {
            Source::Table(reference, table) => Lookup::Maybe(
                Resolved::Column(*reference, column.to_string()),
                Some(table),
            ),
            Source::Opaque(columns) => {
                if columns.iter().any(|c| c == column) {
                    Lookup::Yes(Resolved::NotATable)
                } else {
                    Lookup::Maybe(Resolved::NotATable, None)
                }
            }
            Source::Derived(derived) => {
                if let Some((_, origin)) = derived.columns.iter().find(|(name, _)| name == column) {
                    return Lookup::Yes(origin.into());
                }
                let Some(star) = &derived.star else {
                    return Lookup::No;
                };
                // A `*` over nothing known (a set operation's, see `computed`) may hide any
                // column, none of them a table's.
                if star.is_empty() {
                    return Lookup::Maybe(Resolved::NotATable, None);
                }
                let (definite, maybe) = lookup_in(star.iter(), column);
                match (definite.as_slice(), maybe.as_slice()) {
                    ([one], _) => Lookup::Yes(one.clone()),
                    ([], []) => Lookup::No,
                    ([], [(one, _)]) => Lookup::Maybe(one.clone(), None),
                    ([], _) => Lookup::Maybe(Resolved::Unresolved, None),
                    _ => Lookup::Yes(Resolved::Unresolved),
                }
            }
        }
    }
}

/// What the entries that may have a column would resolve it to, with their tables' names.
type Candidates<'a> = Vec<(Resolved, Option<&'a TableName>)>;

/// The entries among `entries` that surely have `column`, and those that may.
fn lookup_in<'a>(
    entries: impl Iterator<Item = &'a Entry>,
    column: &str,
) -> (Vec<Resolved>, Candidates<'a>) {
    let mut definite = Vec::new();
    let mut maybe = Vec::new();
    for entry in entries.filter(|e| e.unqualified) {
        match entry.lookup(column) {
            Lookup::Yes(resolved) => definite.push(resolved),
            Lookup::Maybe(resolved, table) => maybe.push((resolved, table)),
            Lookup::No => {}
        }
    }
    (definite, maybe)
}

/// A CTE visible at a level.
#[derive(Debug, Clone)]
pub(super) struct Cte {
    pub name: String,
    /// What a reference to it stands for: its outputs, or, inside its own recursive body
    /// before they are known, an opaque entry with the column names the `WITH` gave it.
    pub source: Source,
}

/// One query level.
#[derive(Debug, Default)]
pub(super) struct Level {
    pub entries: Vec<Entry>,
    pub ctes: Vec<Cte>,
    /// Set while a non-`LATERAL` subquery in this level's `FROM`, or a CTE body, is analyzed:
    /// those cannot see this level's entries, only the levels around it.
    pub hidden: bool,
}

/// The stack of query levels around the expression being analyzed.
#[derive(Debug, Default)]
pub(super) struct Scope {
    levels: Vec<Level>,
}

impl Scope {
    pub fn push(&mut self) {
        self.levels.push(Level::default());
    }

    pub fn pop(&mut self) {
        self.levels.pop();
    }

    /// The innermost level; the analysis pushes one before it adds anything to it.
    pub fn current(&mut self) -> Option<&mut Level> {
        self.levels.last_mut()
    }

    /// How many entries the innermost level has.
    pub fn entry_count(&self) -> usize {
        self.levels.last().map_or(0, |level| level.entries.len())
    }

    /// Resolves `column` among the innermost level's entries in `range` only: one side of a
    /// `JOIN ... USING`.
    pub fn resolve_in_current(&self, range: Range<usize>, column: &str) -> Resolved {
        let Some(entries) = self.levels.last().and_then(|l| l.entries.get(range)) else {
            return Resolved::NotFound;
        };
        let (definite, maybe) = lookup_in(entries.iter(), column);
        match (definite.as_slice(), maybe.as_slice()) {
            ([one], _) | ([], [(one, _)]) => one.clone(),
            ([], []) => Resolved::NotFound,
            _ => Resolved::Unresolved,
        }
    }

    /// The entries of the innermost level that unqualified references see.
    pub fn current_entries(&self) -> impl Iterator<Item = &Entry> {
        self.levels
            .last()
            .into_iter()
            .flat_map(|level| level.entries.iter())
            .filter(|e| e.unqualified)
    }

    fn visible_levels(&self) -> impl Iterator<Item = &Level> {
        self.levels.iter().rev().filter(|level| !level.hidden)
    }

    /// The CTE `name` refers to, innermost first. Hidden levels still lend their CTEs: a
    /// subquery in `FROM` sees the `WITH` of the query it is in.
    pub fn cte(&self, name: &str) -> Option<&Cte> {
        self.levels
            .iter()
            .rev()
            .flat_map(|level| level.ctes.iter().rev())
            .find(|cte| cte.name == name)
    }

    /// The entry a qualifier (`t`, `schema.t` or `catalog.schema.t`) names.
    pub fn entry(&self, qualifier: &[&str]) -> Option<&Entry> {
        let (name, schema) = match qualifier {
            [name] => (*name, None),
            [schema, name] | [_, schema, name] => (*name, Some(*schema)),
            _ => return None,
        };
        self.visible_levels()
            .flat_map(|level| level.entries.iter().rev())
            .find(|entry| {
                entry.name == name
                    && match schema {
                        None => true,
                        Some(schema) => {
                            entry.schema_qualifiable
                                && entry.schema.as_deref().is_none_or(|s| s == schema)
                        }
                    }
            })
    }

    /// Resolves a column reference. `*` references resolve to nothing: the caller expands
    /// them.
    pub fn resolve(&self, path: &ColumnPath<'_>) -> Resolved {
        let Some(column) = path.column else {
            return Resolved::NotATable;
        };
        if path.qualifier.is_empty() {
            return self.resolve_unqualified(column);
        }
        match self.entry(&path.qualifier) {
            Some(entry) => match entry.lookup(column) {
                Lookup::Yes(resolved) | Lookup::Maybe(resolved, _) => resolved,
                Lookup::No => Resolved::NotFound,
            },
            None => Resolved::Unresolved,
        }
    }

    /// An unqualified column: the innermost level where some entry surely has it wins, as in
    /// PostgreSQL, provided no table of an inner level might have it too. Otherwise it
    /// belongs to a table only if that table is the one candidate in every visible level, or
    /// if every candidate is a reference to the same table, one per level: a table has the
    /// same columns wherever it is referenced, so PostgreSQL finds it in the innermost one.
    fn resolve_unqualified(&self, column: &str) -> Resolved {
        let mut candidates = Vec::new();
        let mut one_per_level = true;
        for level in self.visible_levels() {
            let (definite, maybe) = lookup_in(level.entries.iter(), column);
            match definite.as_slice() {
                // A table of this level may have it too, but then PostgreSQL would reject the
                // reference as ambiguous: a valid query means the output list is right.
                [one] if candidates.is_empty() => return one.clone(),
                [] => {
                    one_per_level &= maybe.len() <= 1;
                    candidates.extend(maybe);
                }
                _ => return Resolved::Unresolved,
            }
        }
        match candidates.as_slice() {
            [] => Resolved::NotFound,
            [(one, _)] => one.clone(),
            [(innermost, Some(table)), rest @ ..]
                if one_per_level && rest.iter().all(|(_, other)| *other == Some(*table)) =>
            {
                innermost.clone()
            }
            _ => Resolved::Unresolved,
        }
    }
}
