//! pg_query's fingerprint without PostgreSQL's parser, for the statements apps send most.
//!
//! libpg_query fingerprints a query by parsing it and hashing a stream of strings taken from
//! the parse tree: node names, field names and the values that make the shape (identifiers,
//! operators, enum values), never constants, parameters, aliases or locations. The hash is
//! XXH3-64 with seed 3 over the concatenated stream. Six list fields (`fromClause`,
//! `targetList`, `cols`, `rexpr`, `valuesLists`, `args`) are hashed as a set: each element
//! is hashed alone, the elements are written in the order of their hashes, and duplicates
//! are dropped. A field name is written only when its value writes something.
//!
//! Parsing and hashing that way costs pg_query 7–8 µs on a short query, most of it in the
//! hashing of copied states. This module parses a subset of PostgreSQL's grammar by recursive
//! descent and writes the same stream:
//! - `SELECT [DISTINCT]` with columns, `*`, function calls, aggregates, arithmetic and
//!   aliases; `FROM` tables with joins; `WHERE`, `GROUP BY`, `HAVING`, `ORDER BY`, `LIMIT`,
//!   `OFFSET`;
//! - `INSERT ... VALUES` with a column list and `RETURNING`; `UPDATE ... SET ... WHERE`;
//!   `DELETE ... WHERE`;
//! - comparisons, `AND`, `OR`, `NOT`, `IS [NOT] NULL`, `[NOT] LIKE`, `[NOT] ILIKE`,
//!   `[NOT] IN (values)`, `[NOT] BETWEEN`, `op ANY (...)`, casts of constants and parameters
//!   and typed literals.
//!
//! Anything else (subqueries, `WITH`, `CASE`, window functions, `ON CONFLICT`, a keyword where
//! the subset expects an identifier, ...) returns `None`, and the caller asks pg_query. The
//! subset only accepts text that PostgreSQL's grammar accepts, with the same precedence, so a
//! `Some` is pg_query's value; the tests hold every answer against pg_query's.
//!
//! Hot path (the fingerprint cache's miss): tokens and nodes live in vectors that
//! [`FastFingerprinter`] keeps between calls, so a call allocates only while they grow.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::lexer::{Lexer, Token, TokenKind};
use crate::quote::is_reserved;

/// libpg_query's `PG_QUERY_FINGERPRINT_VERSION`, the seed of every hash.
const SEED: u64 = 3;

/// PostgreSQL truncates longer identifiers (NAMEDATALEN - 1); this subset leaves them to
/// pg_query.
const MAX_IDENTIFIER: usize = 63;

/// Deeper expressions are left to pg_query, and keep the parser's recursion shallow.
const MAX_DEPTH: u32 = 24;

/// pg_query stops its walk 100 levels down (a node and a list each count); a tree deeper
/// than this many nodes may reach that, so it is left to pg_query. Long operator chains
/// (`a + b + c ...`) are deep trees built without recursion in the parser.
const MAX_TREE_DEPTH: u32 = 40;

/// Unreserved keywords that PostgreSQL accepts as a column alias only after `AS`.
const AS_ONLY_LABELS: &[&str] = &[
    "day", "filter", "hour", "minute", "month", "over", "second", "varying", "within", "without",
    "year",
];

/// Function names that look like calls but are grouping constructs in `GROUP BY`.
const NOT_FUNCTIONS: &[&str] = &["cube", "grouping", "rollup"];

/// Keyword type names that may open a typed literal (`timestamp '...'`) or follow `::`.
const KEYWORD_TYPES: &[&str] = &[
    "bigint",
    "boolean",
    "int",
    "integer",
    "interval",
    "real",
    "smallint",
    "time",
    "timestamp",
];

/// A node's index in the arena.
type Id = u32;
/// No node: the end of a list, or an absent field.
const NONE: Id = Id::MAX;

/// A list of nodes, chained through [`FastFingerprinter::next`].
#[derive(Clone, Copy)]
struct List {
    first: Id,
    last: Id,
}

impl List {
    const EMPTY: List = List {
        first: NONE,
        last: NONE,
    };

    fn is_empty(self) -> bool {
        self.first == NONE
    }
}

/// An identifier as written: unquoted ones are lowercased when written to the stream.
#[derive(Clone, Copy)]
struct Name<'a> {
    text: &'a str,
    quoted: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LimitOption {
    Default,
    Count,
}

/// The parse tree nodes of the subset, with the fields pg_query's fingerprint reads.
#[derive(Clone, Copy)]
enum Node<'a> {
    /// `A_Const` and `ParamRef`: pg_query writes nothing for them.
    Const,
    /// A `TypeCast` of a constant or a parameter, which pg_query skips too. A cast of this
    /// is not skipped, so it is told apart from [`Node::Const`].
    CastConst,
    /// A `String` node: a name in a column reference, a function name or an operator.
    Str(Name<'a>),
    /// `A_Star`.
    Star,
    ColumnRef(List),
    AExpr {
        kind: &'static str,
        /// The operator as pg_query writes it (`!=` is `<>`, `LIKE` is `~~`).
        name: &'static str,
        lexpr: Id,
        rexpr: Id,
    },
    BoolExpr {
        op: &'static str,
        args: List,
    },
    NullTest {
        arg: Id,
        test: &'static str,
    },
    FuncCall {
        name: List,
        args: List,
        star: bool,
        distinct: bool,
    },
    ResTarget {
        name: Option<Name<'a>>,
        val: Id,
    },
    RangeVar {
        schema: Option<Name<'a>>,
        relation: Name<'a>,
    },
    JoinExpr {
        kind: &'static str,
        left: Id,
        right: Id,
        quals: Id,
    },
    SortBy {
        node: Id,
        dir: &'static str,
        nulls: &'static str,
    },
    /// A `List` node in an expression: an `IN` list, `BETWEEN`'s bounds, a `VALUES` row.
    List(List),
    TypeCast {
        arg: Id,
        ty: TypeName<'a>,
    },
    /// `CURRENT_TIMESTAMP` and the other SQL-standard value keywords.
    SqlValue(&'static str),
    BooleanTest {
        arg: Id,
        test: &'static str,
    },
    Coalesce(List),
    MinMax {
        args: List,
        op: &'static str,
    },
    SubLink {
        kind: &'static str,
        select: Id,
        test: Id,
    },
    RangeSubselect(Id),
    Case {
        arg: Id,
        whens: List,
        default: Id,
    },
    CaseWhen {
        expr: Id,
        result: Id,
    },
    Locking {
        rels: List,
        strength: &'static str,
        wait: &'static str,
    },
    /// An `ON CONFLICT` column.
    IndexElem(Name<'a>),
    OnConflict {
        action: &'static str,
        elems: List,
        constraint: Option<Name<'a>>,
        infer_filter: Id,
        targets: List,
        filter: Id,
    },
    Transaction(&'static str),
    Select(Select),
    Insert {
        cols: List,
        on_conflict: Id,
        relation: Id,
        returning: List,
        select: Id,
    },
    Update {
        relation: Id,
        targets: List,
        from: List,
        filter: Id,
        returning: List,
    },
    Delete {
        relation: Id,
        filter: Id,
        returning: List,
    },
}

/// The type of a cast that pg_query writes: a built-in type under `pg_catalog`, or a name
/// as written.
#[derive(Clone, Copy)]
enum TypeName<'a> {
    System {
        name: &'static str,
        arrays: u8,
    },
    Named {
        schema: Option<Name<'a>>,
        name: Name<'a>,
        /// `[]` suffixes.
        arrays: u8,
    },
}

#[derive(Clone, Copy)]
struct Select {
    distinct: bool,
    distinct_on: List,
    locking: List,
    from: List,
    group: List,
    having: Id,
    limit: Id,
    offset: Id,
    limit_option: LimitOption,
    sort: List,
    targets: List,
    values: List,
    filter: Id,
}

impl Select {
    const EMPTY: Select = Select {
        distinct: false,
        distinct_on: List::EMPTY,
        locking: List::EMPTY,
        from: List::EMPTY,
        group: List::EMPTY,
        having: NONE,
        limit: NONE,
        offset: NONE,
        limit_option: LimitOption::Default,
        sort: List::EMPTY,
        targets: List::EMPTY,
        values: List::EMPTY,
        filter: NONE,
    };
}

/// Binding strength of the operators in the subset, from PostgreSQL's `gram.y` (lowest
/// first). Levels marked non-associative reject a second operator of the same level.
mod level {
    pub const OR: u8 = 1;
    pub const AND: u8 = 2;
    pub const NOT: u8 = 3;
    /// `IS NULL`, non-associative.
    pub const IS: u8 = 4;
    /// `<`, `>`, `=`, `<=`, `>=`, `<>`, non-associative.
    pub const COMPARISON: u8 = 5;
    /// `BETWEEN`, `IN`, `LIKE`, `ILIKE`, non-associative.
    pub const PATTERN: u8 = 6;
    /// Any other operator (`||`, `->`, `@>`, ...).
    pub const OTHER: u8 = 7;
    pub const ADDITIVE: u8 = 8;
    pub const MULTIPLICATIVE: u8 = 9;
    pub const POWER: u8 = 10;
    pub const UNARY_MINUS: u8 = 11;
}

/// Why the subset gave up: the caller asks pg_query instead.
struct Unsupported;

type Parsed<T> = Result<T, Unsupported>;

/// Buffers that [`FastFingerprinter::fingerprint`] keeps between calls.
#[derive(Default)]
pub(crate) struct FastFingerprinter {
    /// Tokens and nodes borrow one call's text, so only their capacities are kept.
    token_capacity: usize,
    node_capacity: usize,
    stream: Vec<u8>,
    /// One `(hash, start, end)` per element of the set-like lists being written.
    spans: Vec<(u64, usize, usize)>,
    scratch: Vec<u8>,
}

impl FastFingerprinter {
    /// pg_query's fingerprint of `sql`, or `None` when `sql` is outside the subset.
    pub(crate) fn fingerprint(&mut self, sql: &str) -> Option<u64> {
        // pg_query takes a C string: a NUL byte is an error there.
        if sql.as_bytes().contains(&0) {
            return None;
        }
        let mut tokens: Vec<Token<'_>> = Vec::with_capacity(self.token_capacity);
        for token in Lexer::new(sql) {
            match token.kind {
                TokenKind::Whitespace | TokenKind::LineComment => {}
                // The lexer ends an unterminated comment at the end of the text, where
                // PostgreSQL reports an error. Nested comments are left to pg_query too.
                TokenKind::BlockComment => {
                    let body = token.text.get(2..).unwrap_or("");
                    if !body.ends_with("*/") || body[..body.len() - 2].contains("/*") {
                        return None;
                    }
                }
                _ => tokens.push(token),
            }
        }
        self.token_capacity = self.token_capacity.max(tokens.len());
        let mut parser = Parser {
            tokens: &tokens,
            pos: 0,
            nodes: Vec::with_capacity(self.node_capacity),
            next: Vec::with_capacity(self.node_capacity),
            depth: 0,
        };
        let statement = parser.statement().ok();
        self.node_capacity = self.node_capacity.max(parser.nodes.len());
        let statement = statement?;
        let mut writer = Writer {
            nodes: &parser.nodes,
            next: &parser.next,
            stream: std::mem::take(&mut self.stream),
            spans: std::mem::take(&mut self.spans),
            scratch: std::mem::take(&mut self.scratch),
            depth: 0,
            too_deep: false,
        };
        writer.stream.clear();
        writer.text("RawStmt");
        writer.field("stmt", |w| w.node(statement, Context::Other));
        let hash = xxh3_64_with_seed(&writer.stream, SEED);
        let too_deep = writer.too_deep;
        self.stream = writer.stream;
        self.spans = writer.spans;
        self.scratch = writer.scratch;
        if too_deep {
            return None;
        }
        Some(hash)
    }
}

struct Parser<'t, 'a> {
    tokens: &'t [Token<'a>],
    pos: usize,
    nodes: Vec<Node<'a>>,
    next: Vec<Id>,
    depth: u32,
}

impl<'a> Parser<'_, 'a> {
    // Token access.

    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<Token<'a>> {
        self.tokens.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Parsed<Token<'a>> {
        let token = self.peek().ok_or(Unsupported)?;
        self.pos += 1;
        Ok(token)
    }

    /// Whether the token `ahead` is the (unquoted) keyword `word`.
    fn is_keyword_at(&self, ahead: usize, word: &str) -> bool {
        self.peek_at(ahead).is_some_and(|token| {
            token.kind == TokenKind::Identifier && token.text.eq_ignore_ascii_case(word)
        })
    }

    fn is_keyword(&self, word: &str) -> bool {
        self.is_keyword_at(0, word)
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.is_keyword(word);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect_keyword(&mut self, word: &str) -> Parsed<()> {
        if self.eat_keyword(word) {
            Ok(())
        } else {
            Err(Unsupported)
        }
    }

    fn is_kind(&self, kind: TokenKind) -> bool {
        self.peek().is_some_and(|token| token.kind == kind)
    }

    fn eat_kind(&mut self, kind: TokenKind) -> bool {
        let found = self.is_kind(kind);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect_kind(&mut self, kind: TokenKind) -> Parsed<()> {
        if self.eat_kind(kind) {
            Ok(())
        } else {
            Err(Unsupported)
        }
    }

    fn is_operator(&self, op: &str) -> bool {
        self.peek()
            .is_some_and(|token| token.kind == TokenKind::Operator && token.text == op)
    }

    /// Whether a word touches `token`'s end: PostgreSQL rejects `123abc` and `$1abc` as
    /// trailing junk, where the lexer here sees two tokens.
    fn junk_follows(&self, token: Token<'a>) -> bool {
        self.peek().is_some_and(|next| {
            next.start == token.start + token.text.len()
                && matches!(
                    next.kind,
                    TokenKind::Identifier | TokenKind::QuotedIdentifier
                )
        })
    }

    // Arena.

    fn push(&mut self, node: Node<'a>) -> Id {
        self.nodes.push(node);
        self.next.push(NONE);
        (self.nodes.len() - 1) as Id
    }

    fn append(&mut self, list: &mut List, id: Id) {
        if list.first == NONE {
            list.first = id;
        } else {
            self.next[list.last as usize] = id;
        }
        list.last = id;
    }

    fn descend(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Unsupported);
        }
        Ok(())
    }

    // Names.

    /// An identifier: quoted, or unquoted and not a keyword that is reserved in any position.
    fn name(&mut self) -> Parsed<Name<'a>> {
        let token = self.peek().ok_or(Unsupported)?;
        let name = plain_name(token).ok_or(Unsupported)?;
        self.pos += 1;
        Ok(name)
    }

    fn is_name(&self) -> bool {
        self.peek().and_then(plain_name).is_some()
    }

    /// A column alias after `AS`: any word, keywords included.
    fn label(&mut self) -> Parsed<()> {
        let token = self.bump()?;
        match token.kind {
            TokenKind::Identifier => Ok(()),
            TokenKind::QuotedIdentifier => quoted_name(token).map(|_| ()).ok_or(Unsupported),
            _ => Err(Unsupported),
        }
    }

    // Statements.

    fn statement(&mut self) -> Parsed<Id> {
        let statement = if self.is_keyword("select") {
            let select = self.select()?;
            self.push(Node::Select(select))
        } else if self.eat_keyword("insert") {
            self.insert()?
        } else if self.eat_keyword("update") {
            self.update()?
        } else if self.eat_keyword("delete") {
            self.delete()?
        } else if let Some(kind) = self.transaction() {
            self.push(Node::Transaction(kind))
        } else {
            return Err(Unsupported);
        };
        self.eat_kind(TokenKind::Semicolon);
        if self.pos == self.tokens.len() {
            Ok(statement)
        } else {
            Err(Unsupported)
        }
    }

    /// `BEGIN`, `COMMIT`, `ROLLBACK` and their synonyms, without options.
    fn transaction(&mut self) -> Option<&'static str> {
        let kind = if self.eat_keyword("begin") {
            "TRANS_STMT_BEGIN"
        } else if self.eat_keyword("start") {
            if !self.eat_keyword("transaction") {
                return None;
            }
            return Some("TRANS_STMT_START");
        } else if self.eat_keyword("commit") || self.eat_keyword("end") {
            "TRANS_STMT_COMMIT"
        } else if self.eat_keyword("rollback") || self.eat_keyword("abort") {
            "TRANS_STMT_ROLLBACK"
        } else {
            return None;
        };
        if !self.eat_keyword("work") {
            self.eat_keyword("transaction");
        }
        Some(kind)
    }

    fn select(&mut self) -> Parsed<Select> {
        // Subqueries in FROM nest without passing through an expression.
        self.descend()?;
        self.expect_keyword("select")?;
        let mut select = Select::EMPTY;
        if self.eat_keyword("distinct") {
            if self.eat_keyword("on") {
                self.expect_kind(TokenKind::OpenParen)?;
                select.distinct_on = self.expr_list()?;
                self.expect_kind(TokenKind::CloseParen)?;
            } else {
                select.distinct = true;
            }
        } else {
            self.eat_keyword("all");
        }
        select.targets = self.targets(true)?;
        if self.eat_keyword("from") {
            select.from = self.table_list()?;
        }
        if self.eat_keyword("where") {
            select.filter = self.expr(0)?;
        }
        if self.eat_keyword("group") {
            self.expect_keyword("by")?;
            if self.is_keyword("all") || self.is_keyword("distinct") {
                return Err(Unsupported);
            }
            select.group = self.expr_list()?;
        }
        if self.eat_keyword("having") {
            select.having = self.expr(0)?;
        }
        if self.eat_keyword("order") {
            self.expect_keyword("by")?;
            select.sort = self.sort_list()?;
        }
        select.locking = self.locking()?;
        // PostgreSQL takes LIMIT and OFFSET in either order.
        for _ in 0..2 {
            if select.limit == NONE && self.eat_keyword("limit") {
                if self.is_keyword("all") {
                    return Err(Unsupported);
                }
                select.limit = self.expr(0)?;
                select.limit_option = LimitOption::Count;
            } else if select.offset == NONE && self.eat_keyword("offset") {
                select.offset = self.expr(0)?;
                if self.is_keyword("row") || self.is_keyword("rows") {
                    return Err(Unsupported);
                }
                select.limit_option = LimitOption::Count;
            }
        }
        if select.locking.is_empty() {
            select.locking = self.locking()?;
        }
        self.depth -= 1;
        Ok(select)
    }

    /// `FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE`, `FOR KEY SHARE`, each with `OF`
    /// tables and `NOWAIT` or `SKIP LOCKED`.
    fn locking(&mut self) -> Parsed<List> {
        let mut list = List::EMPTY;
        while self.eat_keyword("for") {
            let strength = if self.eat_keyword("update") {
                "LCS_FORUPDATE"
            } else if self.eat_keyword("share") {
                "LCS_FORSHARE"
            } else if self.eat_keyword("no") {
                self.expect_keyword("key")?;
                self.expect_keyword("update")?;
                "LCS_FORNOKEYUPDATE"
            } else {
                self.expect_keyword("key")?;
                self.expect_keyword("share")?;
                "LCS_FORKEYSHARE"
            };
            let mut rels = List::EMPTY;
            if self.eat_keyword("of") {
                loop {
                    let rel = self.table(false)?;
                    self.append(&mut rels, rel);
                    if !self.eat_kind(TokenKind::Comma) {
                        break;
                    }
                }
            }
            let wait = if self.eat_keyword("nowait") {
                "LockWaitError"
            } else if self.eat_keyword("skip") {
                self.expect_keyword("locked")?;
                "LockWaitSkip"
            } else {
                "LockWaitBlock"
            };
            let clause = self.push(Node::Locking {
                rels,
                strength,
                wait,
            });
            self.append(&mut list, clause);
        }
        Ok(list)
    }

    /// A target list. In SELECT, an alias may follow without `AS`.
    fn targets(&mut self, select: bool) -> Parsed<List> {
        let mut list = List::EMPTY;
        loop {
            let star = self.is_operator("*");
            let val = if star {
                self.pos += 1;
                let star = self.push(Node::Star);
                let mut fields = List::EMPTY;
                self.append(&mut fields, star);
                self.push(Node::ColumnRef(fields))
            } else {
                self.expr(0)?
            };
            let mut name = None;
            if star {
                // A bare `*` takes no alias.
            } else if self.eat_keyword("as") {
                let start = self.pos;
                self.label()?;
                name = plain_or_keyword(self.tokens[start]);
            } else if select {
                if let Some(token) = self.peek() {
                    if let Some(alias) = plain_name(token) {
                        if token.kind == TokenKind::Identifier
                            && AS_ONLY_LABELS
                                .iter()
                                .any(|w| token.text.eq_ignore_ascii_case(w))
                        {
                            return Err(Unsupported);
                        }
                        self.pos += 1;
                        name = Some(alias);
                    }
                }
            }
            let target = self.push(Node::ResTarget { name, val });
            self.append(&mut list, target);
            if !self.eat_kind(TokenKind::Comma) {
                return Ok(list);
            }
        }
    }

    fn table_list(&mut self) -> Parsed<List> {
        let mut list = List::EMPTY;
        loop {
            let item = self.joined_table()?;
            self.append(&mut list, item);
            if !self.eat_kind(TokenKind::Comma) {
                return Ok(list);
            }
        }
    }

    /// A table with its joins, left to right.
    fn joined_table(&mut self) -> Parsed<Id> {
        let mut left = self.table(true)?;
        loop {
            let kind = if self.is_keyword("join") || self.is_keyword("inner") {
                self.eat_keyword("inner");
                "JOIN_INNER"
            } else if self.is_keyword("left") {
                "JOIN_LEFT"
            } else if self.is_keyword("right") {
                "JOIN_RIGHT"
            } else if self.is_keyword("full") {
                "JOIN_FULL"
            } else if self.is_keyword("cross") {
                self.pos += 1;
                self.expect_keyword("join")?;
                let right = self.table(true)?;
                left = self.push(Node::JoinExpr {
                    kind: "JOIN_INNER",
                    left,
                    right,
                    quals: NONE,
                });
                continue;
            } else {
                return Ok(left);
            };
            if kind != "JOIN_INNER" {
                self.pos += 1;
                self.eat_keyword("outer");
            }
            self.expect_keyword("join")?;
            let right = self.table(true)?;
            self.expect_keyword("on")?;
            let quals = self.expr(0)?;
            left = self.push(Node::JoinExpr {
                kind,
                left,
                right,
                quals,
            });
        }
    }

    /// `[schema.]table [[AS] alias]`.
    fn table(&mut self, alias: bool) -> Parsed<Id> {
        if alias && self.is_kind(TokenKind::OpenParen) && self.is_keyword_at(1, "select") {
            // `(SELECT ...) [AS] alias`: the alias is not written.
            self.pos += 1;
            let select = self.select()?;
            let select = self.push(Node::Select(select));
            self.expect_kind(TokenKind::CloseParen)?;
            if self.eat_keyword("as") {
                self.name()?;
            } else if self.is_name() {
                self.pos += 1;
            }
            if self.is_kind(TokenKind::OpenParen) {
                return Err(Unsupported);
            }
            return Ok(self.push(Node::RangeSubselect(select)));
        }
        if self.is_keyword("only") || self.is_kind(TokenKind::OpenParen) {
            return Err(Unsupported);
        }
        let first = self.name()?;
        let (schema, relation) = if self.eat_kind(TokenKind::Dot) {
            (Some(first), self.name()?)
        } else {
            (None, first)
        };
        if self.is_kind(TokenKind::Dot) || self.is_operator("*") {
            return Err(Unsupported);
        }
        if self.eat_keyword("as") {
            self.name()?;
        } else if alias && self.is_name() && !self.is_keyword("set") {
            self.pos += 1;
        }
        // `t(...)` in FROM is a function, `t AS x(a, b)` renames columns; after INSERT's
        // table, the parenthesis opens the column list.
        if alias && self.is_kind(TokenKind::OpenParen) {
            return Err(Unsupported);
        }
        Ok(self.push(Node::RangeVar { schema, relation }))
    }

    fn sort_list(&mut self) -> Parsed<List> {
        let mut list = List::EMPTY;
        loop {
            let node = self.expr(0)?;
            let dir = if self.eat_keyword("asc") {
                "SORTBY_ASC"
            } else if self.eat_keyword("desc") {
                "SORTBY_DESC"
            } else if self.is_keyword("using") {
                return Err(Unsupported);
            } else {
                "SORTBY_DEFAULT"
            };
            let nulls = if self.eat_keyword("nulls") {
                if self.eat_keyword("first") {
                    "SORTBY_NULLS_FIRST"
                } else {
                    self.expect_keyword("last")?;
                    "SORTBY_NULLS_LAST"
                }
            } else {
                "SORTBY_NULLS_DEFAULT"
            };
            let sort = self.push(Node::SortBy { node, dir, nulls });
            self.append(&mut list, sort);
            if !self.eat_kind(TokenKind::Comma) {
                return Ok(list);
            }
        }
    }

    fn insert(&mut self) -> Parsed<Id> {
        self.expect_keyword("into")?;
        let relation = self.table(false)?;
        let mut cols = List::EMPTY;
        if self.eat_kind(TokenKind::OpenParen) {
            loop {
                let name = self.name()?;
                if self.is_kind(TokenKind::Dot) || self.is_kind(TokenKind::OpenBracket) {
                    return Err(Unsupported);
                }
                let col = self.push(Node::ResTarget {
                    name: Some(name),
                    val: NONE,
                });
                self.append(&mut cols, col);
                if !self.eat_kind(TokenKind::Comma) {
                    break;
                }
            }
            self.expect_kind(TokenKind::CloseParen)?;
        }
        self.expect_keyword("values")?;
        let mut select = Select::EMPTY;
        loop {
            self.expect_kind(TokenKind::OpenParen)?;
            let mut row = List::EMPTY;
            loop {
                if self.is_keyword("default") {
                    return Err(Unsupported);
                }
                let value = self.expr(0)?;
                self.append(&mut row, value);
                if !self.eat_kind(TokenKind::Comma) {
                    break;
                }
            }
            self.expect_kind(TokenKind::CloseParen)?;
            let row = self.push(Node::List(row));
            self.append(&mut select.values, row);
            if !self.eat_kind(TokenKind::Comma) {
                break;
            }
        }
        let select = self.push(Node::Select(select));
        let on_conflict = if self.eat_keyword("on") {
            self.on_conflict()?
        } else {
            NONE
        };
        let returning = self.returning()?;
        Ok(self.push(Node::Insert {
            cols,
            on_conflict,
            relation,
            returning,
            select,
        }))
    }

    /// `ON CONFLICT [(columns) [WHERE ...] | ON CONSTRAINT name] DO NOTHING | DO UPDATE SET
    /// ... [WHERE ...]`, after `ON`.
    fn on_conflict(&mut self) -> Parsed<Id> {
        self.expect_keyword("conflict")?;
        let mut elems = List::EMPTY;
        let mut constraint = None;
        let mut infer_filter = NONE;
        if self.eat_kind(TokenKind::OpenParen) {
            loop {
                let name = self.name()?;
                if !self.is_kind(TokenKind::Comma) && !self.is_kind(TokenKind::CloseParen) {
                    return Err(Unsupported);
                }
                let elem = self.push(Node::IndexElem(name));
                self.append(&mut elems, elem);
                if !self.eat_kind(TokenKind::Comma) {
                    break;
                }
            }
            self.expect_kind(TokenKind::CloseParen)?;
            infer_filter = self.where_clause()?;
        } else if self.eat_keyword("on") {
            self.expect_keyword("constraint")?;
            constraint = Some(self.name()?);
        }
        self.expect_keyword("do")?;
        let mut targets = List::EMPTY;
        let mut filter = NONE;
        let action = if self.eat_keyword("nothing") {
            "ONCONFLICT_NOTHING"
        } else {
            self.expect_keyword("update")?;
            if elems.is_empty() && constraint.is_none() {
                return Err(Unsupported);
            }
            self.expect_keyword("set")?;
            targets = self.set_list()?;
            filter = self.where_clause()?;
            "ONCONFLICT_UPDATE"
        };
        Ok(self.push(Node::OnConflict {
            action,
            elems,
            constraint,
            infer_filter,
            targets,
            filter,
        }))
    }

    /// `column = value, ...` after `SET`.
    fn set_list(&mut self) -> Parsed<List> {
        let mut targets = List::EMPTY;
        loop {
            let name = self.name()?;
            if !self.is_operator("=") {
                return Err(Unsupported);
            }
            self.pos += 1;
            if self.is_keyword("default") {
                return Err(Unsupported);
            }
            let val = self.expr(0)?;
            let target = self.push(Node::ResTarget {
                name: Some(name),
                val,
            });
            self.append(&mut targets, target);
            if !self.eat_kind(TokenKind::Comma) {
                return Ok(targets);
            }
        }
    }

    fn update(&mut self) -> Parsed<Id> {
        let relation = self.table(true)?;
        self.expect_keyword("set")?;
        let targets = self.set_list()?;
        let from = if self.eat_keyword("from") {
            self.table_list()?
        } else {
            List::EMPTY
        };
        let filter = self.where_clause()?;
        let returning = self.returning()?;
        Ok(self.push(Node::Update {
            relation,
            targets,
            from,
            filter,
            returning,
        }))
    }

    fn delete(&mut self) -> Parsed<Id> {
        self.expect_keyword("from")?;
        let relation = self.table(true)?;
        let filter = self.where_clause()?;
        let returning = self.returning()?;
        Ok(self.push(Node::Delete {
            relation,
            filter,
            returning,
        }))
    }

    fn where_clause(&mut self) -> Parsed<Id> {
        if !self.eat_keyword("where") {
            return Ok(NONE);
        }
        if self.is_keyword("current") {
            return Err(Unsupported);
        }
        self.expr(0)
    }

    fn returning(&mut self) -> Parsed<List> {
        if self.eat_keyword("returning") {
            self.targets(false)
        } else {
            Ok(List::EMPTY)
        }
    }

    // Expressions.

    fn expr_list(&mut self) -> Parsed<List> {
        let mut list = List::EMPTY;
        loop {
            let item = self.expr(0)?;
            self.append(&mut list, item);
            if !self.eat_kind(TokenKind::Comma) {
                return Ok(list);
            }
        }
    }

    /// An expression whose operators all bind tighter than `min` (precedence climbing over
    /// the levels in [`level`]).
    fn expr(&mut self, min: u8) -> Parsed<Id> {
        self.descend()?;
        let mut left = self.prefix(min)?;
        // The level of the last operator applied at this depth, for non-associativity.
        let mut last = 0;
        while let Some(op) = self.infix()? {
            if op.level <= min {
                break;
            }
            let non_associative =
                matches!(op.level, level::IS | level::COMPARISON | level::PATTERN);
            if non_associative && op.level == last {
                return Err(Unsupported);
            }
            self.pos += op.tokens;
            left = match op.form {
                Form::Binary { kind, name } => {
                    let right = self.expr(op.level)?;
                    self.a_expr(kind, name, left, right)
                }
                Form::Bool(op) => {
                    let right = self.expr(if op == "AND_EXPR" {
                        level::AND
                    } else {
                        level::OR
                    })?;
                    self.bool_expr(op, left, right)
                }
                Form::NullTest(test) => self.push(Node::NullTest { arg: left, test }),
                Form::BooleanTest(test) => self.push(Node::BooleanTest { arg: left, test }),
                Form::In { name } => {
                    self.expect_kind(TokenKind::OpenParen)?;
                    if self.is_keyword("select") {
                        let select = self.select()?;
                        let select = self.push(Node::Select(select));
                        self.expect_kind(TokenKind::CloseParen)?;
                        let sublink = self.push(Node::SubLink {
                            kind: "ANY_SUBLINK",
                            select,
                            test: left,
                        });
                        left = if name == "=" {
                            sublink
                        } else {
                            let mut args = List::EMPTY;
                            self.append(&mut args, sublink);
                            self.push(Node::BoolExpr {
                                op: "NOT_EXPR",
                                args,
                            })
                        };
                        last = op.level;
                        continue;
                    }
                    if self.is_keyword("with") {
                        return Err(Unsupported);
                    }
                    let items = self.expr_list()?;
                    self.expect_kind(TokenKind::CloseParen)?;
                    let rexpr = self.push(Node::List(items));
                    self.a_expr("AEXPR_OP", name, left, rexpr)
                }
                Form::Between { kind, name } => {
                    if self.is_keyword("symmetric") || self.is_keyword("asymmetric") {
                        return Err(Unsupported);
                    }
                    // The bounds are `b_expr`s: no boolean, comparison or pattern operators.
                    let low = self.expr(level::PATTERN)?;
                    self.expect_keyword("and")?;
                    let high = self.expr(level::PATTERN)?;
                    let mut bounds = List::EMPTY;
                    self.append(&mut bounds, low);
                    self.append(&mut bounds, high);
                    let rexpr = self.push(Node::List(bounds));
                    self.a_expr(kind, name, left, rexpr)
                }
                Form::Any { name } => {
                    self.expect_kind(TokenKind::OpenParen)?;
                    if self.is_keyword("select") || self.is_keyword("with") {
                        return Err(Unsupported);
                    }
                    let inner = self.expr(0)?;
                    self.expect_kind(TokenKind::CloseParen)?;
                    self.a_expr("AEXPR_OP", name, left, inner)
                }
            };
            last = op.level;
        }
        self.depth -= 1;
        Ok(left)
    }

    /// An `A_Expr`: an operator, by the name pg_query writes, and its operands.
    fn a_expr(&mut self, kind: &'static str, name: &'static str, lexpr: Id, rexpr: Id) -> Id {
        self.push(Node::AExpr {
            kind,
            name,
            lexpr,
            rexpr,
        })
    }

    /// `AND` and `OR` chains: PostgreSQL's `makeAndExpr` appends to a left operand of the same
    /// kind, so `a AND b AND c` is one node with three arguments.
    fn bool_expr(&mut self, op: &'static str, left: Id, right: Id) -> Id {
        if let Node::BoolExpr {
            op: left_op,
            mut args,
        } = self.nodes[left as usize]
        {
            if left_op == op {
                self.append(&mut args, right);
                self.nodes[left as usize] = Node::BoolExpr { op, args };
                return left;
            }
        }
        let mut args = List::EMPTY;
        self.append(&mut args, left);
        self.append(&mut args, right);
        self.push(Node::BoolExpr { op, args })
    }

    /// The operator at the cursor, without consuming it.
    fn infix(&self) -> Parsed<Option<Infix>> {
        let Some(token) = self.peek() else {
            return Ok(None);
        };
        let binary = |level, name| Infix {
            level,
            tokens: 1,
            form: Form::Binary {
                kind: "AEXPR_OP",
                name,
            },
        };
        let found = match token.kind {
            TokenKind::Operator => {
                let name = match token.text {
                    "=" | "<" | ">" | "<=" | ">=" | "<>" | "!=" => {
                        let name = if token.text == "!=" { "<>" } else { token.text };
                        if self.is_keyword_at(1, "any") || self.is_keyword_at(1, "some") {
                            return Ok(Some(Infix {
                                level: level::COMPARISON,
                                tokens: 2,
                                form: Form::Any {
                                    name: static_operator(name),
                                },
                            }));
                        }
                        if self.is_keyword_at(1, "all") {
                            return Err(Unsupported);
                        }
                        return Ok(Some(binary(level::COMPARISON, static_operator(name))));
                    }
                    "+" | "-" => {
                        return Ok(Some(binary(level::ADDITIVE, static_operator(token.text))))
                    }
                    "*" | "/" | "%" => {
                        return Ok(Some(binary(
                            level::MULTIPLICATIVE,
                            static_operator(token.text),
                        )))
                    }
                    "^" => return Ok(Some(binary(level::POWER, "^"))),
                    "||" | "->" | "->>" | "#>" | "#>>" | "@>" | "<@" | "&&" | "@@" | "~" | "~*"
                    | "!~" | "!~*" | "?" | "?|" | "?&" => static_operator(token.text),
                    _ => return Err(Unsupported),
                };
                if self.is_keyword_at(1, "any")
                    || self.is_keyword_at(1, "some")
                    || self.is_keyword_at(1, "all")
                {
                    return Err(Unsupported);
                }
                binary(level::OTHER, name)
            }
            TokenKind::Identifier => {
                let word = token.text;
                let not = word.eq_ignore_ascii_case("not");
                let (next_word, tokens) = if not {
                    match self.peek_at(1) {
                        Some(next) if next.kind == TokenKind::Identifier => (next.text, 2),
                        _ => return Err(Unsupported),
                    }
                } else {
                    (word, 1)
                };
                let is = |w: &str| next_word.eq_ignore_ascii_case(w);
                if !not && is("and") {
                    Infix {
                        level: level::AND,
                        tokens,
                        form: Form::Bool("AND_EXPR"),
                    }
                } else if !not && is("or") {
                    Infix {
                        level: level::OR,
                        tokens,
                        form: Form::Bool("OR_EXPR"),
                    }
                } else if !not && is("is") {
                    let negated = self.is_keyword_at(1, "not");
                    let at = if negated { 2 } else { 1 };
                    let test = |yes, no| if negated { no } else { yes };
                    let form = if self.is_keyword_at(at, "null") {
                        Form::NullTest(test("IS_NULL", "IS_NOT_NULL"))
                    } else if self.is_keyword_at(at, "true") {
                        Form::BooleanTest(test("IS_TRUE", "IS_NOT_TRUE"))
                    } else if self.is_keyword_at(at, "false") {
                        Form::BooleanTest(test("IS_FALSE", "IS_NOT_FALSE"))
                    } else if self.is_keyword_at(at, "unknown") {
                        Form::BooleanTest(test("IS_UNKNOWN", "IS_NOT_UNKNOWN"))
                    } else if self.is_keyword_at(at, "distinct")
                        && self.is_keyword_at(at + 1, "from")
                    {
                        return Ok(Some(Infix {
                            level: level::IS,
                            tokens: at + 2,
                            form: Form::Binary {
                                kind: test("AEXPR_DISTINCT", "AEXPR_NOT_DISTINCT"),
                                name: "=",
                            },
                        }));
                    } else {
                        return Err(Unsupported);
                    };
                    Infix {
                        level: level::IS,
                        tokens: at + 1,
                        form,
                    }
                } else if is("in") || is("like") || is("ilike") || is("between") {
                    // `[NOT] IN`, `[NOT] LIKE`, `[NOT] ILIKE`, `[NOT] BETWEEN`: one level. A
                    // LIKE's ESCAPE clause is refused below, as any unknown operator word.
                    let pick = |yes, no| if not { no } else { yes };
                    let form = if is("in") {
                        Form::In {
                            name: pick("=", "<>"),
                        }
                    } else if is("between") {
                        Form::Between {
                            kind: pick("AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN"),
                            name: pick("BETWEEN", "NOT BETWEEN"),
                        }
                    } else if is("like") {
                        Form::Binary {
                            kind: "AEXPR_LIKE",
                            name: pick("~~", "!~~"),
                        }
                    } else {
                        Form::Binary {
                            kind: "AEXPR_ILIKE",
                            name: pick("~~*", "!~~*"),
                        }
                    };
                    Infix {
                        level: level::PATTERN,
                        tokens,
                        form,
                    }
                } else if not
                    || is("isnull")
                    || is("notnull")
                    || is("similar")
                    || is("at")
                    || is("collate")
                    || is("escape")
                    || is("operator")
                {
                    return Err(Unsupported);
                } else {
                    return Ok(None);
                }
            }
            TokenKind::Typecast | TokenKind::OpenBracket | TokenKind::Dot => {
                return Err(Unsupported)
            }
            _ => return Ok(None),
        };
        Ok(Some(found))
    }

    /// What may start an expression: a prefix operator or a primary.
    fn prefix(&mut self, min: u8) -> Parsed<Id> {
        if self.is_keyword("not") {
            // PostgreSQL allows `a = NOT b`; the subset keeps `NOT` where it binds loosest.
            if min >= level::NOT {
                return Err(Unsupported);
            }
            self.pos += 1;
            let arg = self.expr(level::NOT - 1)?;
            let mut args = List::EMPTY;
            self.append(&mut args, arg);
            return Ok(self.push(Node::BoolExpr {
                op: "NOT_EXPR",
                args,
            }));
        }
        if self.is_operator("-") {
            self.pos += 1;
            // A minus before a number folds into the constant (PostgreSQL's `doNegate`),
            // unless a cast binds the number first.
            if self.is_kind(TokenKind::Number)
                && !matches!(
                    self.peek_at(1).map(|token| token.kind),
                    Some(TokenKind::Typecast | TokenKind::OpenBracket | TokenKind::Dot)
                )
            {
                let number = self.bump()?;
                if self.junk_follows(number) {
                    return Err(Unsupported);
                }
                return Ok(self.push(Node::Const));
            }
            // A minus before another sign, a parenthesis or a string: folding depends on
            // what the operand turns out to be.
            let cast_number =
                self.is_kind(TokenKind::Number) && self.is_kind_at(1, TokenKind::Typecast);
            let unclear = self.peek().is_some_and(|token| token.kind.is_constant()) && !cast_number
                || self.is_kind(TokenKind::OpenParen)
                || self.is_kind(TokenKind::Operator);
            if unclear {
                return Err(Unsupported);
            }
            let arg = self.expr(level::UNARY_MINUS)?;
            return Ok(self.a_expr("AEXPR_OP", "-", NONE, arg));
        }
        let mut primary = self.primary()?;
        while self.eat_kind(TokenKind::Typecast) {
            let ty = self.type_name()?;
            primary = self.cast(primary, ty);
        }
        if self.is_kind(TokenKind::OpenBracket) {
            return Err(Unsupported);
        }
        Ok(primary)
    }

    /// A cast of a constant or a parameter is invisible to the fingerprint.
    fn cast(&mut self, arg: Id, ty: TypeName<'a>) -> Id {
        if matches!(self.nodes[arg as usize], Node::Const) {
            self.push(Node::CastConst)
        } else {
            self.push(Node::TypeCast { arg, ty })
        }
    }

    fn primary(&mut self) -> Parsed<Id> {
        let token = self.bump()?;
        match token.kind {
            kind if kind.is_constant() => {
                if !well_formed_constant(token) {
                    return Err(Unsupported);
                }
                if self.junk_follows(token) {
                    return Err(Unsupported);
                }
                Ok(self.push(Node::Const))
            }
            TokenKind::Parameter => {
                if self.is_kind(TokenKind::OpenBracket)
                    || self.is_kind(TokenKind::Dot)
                    || self.junk_follows(token)
                {
                    return Err(Unsupported);
                }
                Ok(self.push(Node::Const))
            }
            TokenKind::OpenParen => {
                if self.is_keyword("select") {
                    let select = self.select()?;
                    let select = self.push(Node::Select(select));
                    self.expect_kind(TokenKind::CloseParen)?;
                    return Ok(self.push(Node::SubLink {
                        kind: "EXPR_SUBLINK",
                        select,
                        test: NONE,
                    }));
                }
                if self.is_keyword("with") || self.is_keyword("values") {
                    return Err(Unsupported);
                }
                let inner = self.expr(0)?;
                self.expect_kind(TokenKind::CloseParen)?;
                if self.is_kind(TokenKind::Dot) || self.is_kind(TokenKind::OpenBracket) {
                    return Err(Unsupported);
                }
                Ok(inner)
            }
            TokenKind::Identifier | TokenKind::QuotedIdentifier => self.name_expr(token),
            _ => Err(Unsupported),
        }
    }

    /// What starts with a word: `true`, `false`, `null`, a typed literal, a column reference
    /// or a function call.
    fn name_expr(&mut self, token: Token<'a>) -> Parsed<Id> {
        if token.kind == TokenKind::Identifier {
            let word = token.text;
            if ["true", "false", "null"]
                .iter()
                .any(|w| word.eq_ignore_ascii_case(w))
            {
                return Ok(self.push(Node::Const));
            }
            if let Some(node) = self.keyword_expr(word)? {
                return Ok(node);
            }
            let string_follows = self.peek().is_some_and(|next| {
                matches!(next.kind, TokenKind::String | TokenKind::DollarString)
                    && well_formed_constant(next)
            });
            if string_follows {
                // `date '2024-01-01'`: a typed literal, a cast of a constant.
                let keyword_type = KEYWORD_TYPES.iter().any(|w| word.eq_ignore_ascii_case(w));
                if plain_name(token).is_none() && !keyword_type {
                    return Err(Unsupported);
                }
                // Interval fields (`interval '1' day`) are left after the constant, where
                // no rule of the subset takes them, so the parse gives up.
                self.pos += 1;
                return Ok(self.push(Node::CastConst));
            }
        }
        let first = plain_name(token).ok_or(Unsupported)?;
        let mut fields = List::EMPTY;
        let head = self.push(Node::Str(first));
        self.append(&mut fields, head);
        while self.eat_kind(TokenKind::Dot) {
            if self.is_operator("*") {
                self.pos += 1;
                let star = self.push(Node::Star);
                self.append(&mut fields, star);
                if self.is_kind(TokenKind::Dot) || self.is_kind(TokenKind::OpenParen) {
                    return Err(Unsupported);
                }
                return Ok(self.push(Node::ColumnRef(fields)));
            }
            let part = self.name()?;
            let part = self.push(Node::Str(part));
            self.append(&mut fields, part);
        }
        if self.eat_kind(TokenKind::OpenParen) {
            return self.call(fields, token);
        }
        if self.is_kind(TokenKind::OpenBracket) || self.is_kind(TokenKind::String) {
            return Err(Unsupported);
        }
        Ok(self.push(Node::ColumnRef(fields)))
    }

    /// The expressions that start with a keyword: `EXISTS`, `CASE`, `CAST`, `COALESCE`,
    /// `GREATEST`, `LEAST`, `NULLIF` and the SQL value keywords. `None` for other words.
    fn keyword_expr(&mut self, word: &str) -> Parsed<Option<Id>> {
        let lower = |w: &str| word.eq_ignore_ascii_case(w);
        const SQL_VALUES: &[(&str, &str)] = &[
            ("current_timestamp", "SVFOP_CURRENT_TIMESTAMP"),
            ("current_date", "SVFOP_CURRENT_DATE"),
            ("current_time", "SVFOP_CURRENT_TIME"),
            ("localtimestamp", "SVFOP_LOCALTIMESTAMP"),
            ("localtime", "SVFOP_LOCALTIME"),
            ("current_user", "SVFOP_CURRENT_USER"),
            ("current_role", "SVFOP_CURRENT_ROLE"),
            ("session_user", "SVFOP_SESSION_USER"),
            ("user", "SVFOP_USER"),
            ("current_catalog", "SVFOP_CURRENT_CATALOG"),
            ("current_schema", "SVFOP_CURRENT_SCHEMA"),
        ];
        if let Some((_, op)) = SQL_VALUES.iter().find(|(w, _)| lower(w)) {
            // With a precision, `CURRENT_TIMESTAMP(3)` is another operation.
            if self.is_kind(TokenKind::OpenParen) {
                return Err(Unsupported);
            }
            return Ok(Some(self.push(Node::SqlValue(op))));
        }
        let node = if lower("exists") {
            self.expect_kind(TokenKind::OpenParen)?;
            let select = self.select()?;
            let select = self.push(Node::Select(select));
            self.expect_kind(TokenKind::CloseParen)?;
            self.push(Node::SubLink {
                kind: "EXISTS_SUBLINK",
                select,
                test: NONE,
            })
        } else if lower("case") {
            self.case()?
        } else if lower("cast") {
            self.expect_kind(TokenKind::OpenParen)?;
            let arg = self.expr(0)?;
            self.expect_keyword("as")?;
            let ty = self.type_name()?;
            self.expect_kind(TokenKind::CloseParen)?;
            self.cast(arg, ty)
        } else if lower("coalesce") || lower("greatest") || lower("least") {
            self.expect_kind(TokenKind::OpenParen)?;
            let args = self.expr_list()?;
            self.expect_kind(TokenKind::CloseParen)?;
            if lower("coalesce") {
                self.push(Node::Coalesce(args))
            } else {
                let op = if lower("greatest") {
                    "IS_GREATEST"
                } else {
                    "IS_LEAST"
                };
                self.push(Node::MinMax { args, op })
            }
        } else if lower("nullif") {
            self.expect_kind(TokenKind::OpenParen)?;
            let lexpr = self.expr(0)?;
            self.expect_kind(TokenKind::Comma)?;
            let rexpr = self.expr(0)?;
            self.expect_kind(TokenKind::CloseParen)?;
            self.a_expr("AEXPR_NULLIF", "=", lexpr, rexpr)
        } else {
            return Ok(None);
        };
        Ok(Some(node))
    }

    /// `CASE [arg] WHEN ... THEN ... [ELSE ...] END`, after `CASE`.
    fn case(&mut self) -> Parsed<Id> {
        let arg = if self.is_keyword("when") {
            NONE
        } else {
            self.expr(0)?
        };
        let mut whens = List::EMPTY;
        while self.eat_keyword("when") {
            let expr = self.expr(0)?;
            self.expect_keyword("then")?;
            let result = self.expr(0)?;
            let when = self.push(Node::CaseWhen { expr, result });
            self.append(&mut whens, when);
        }
        if whens.is_empty() {
            return Err(Unsupported);
        }
        let default = if self.eat_keyword("else") {
            self.expr(0)?
        } else {
            NONE
        };
        self.expect_keyword("end")?;
        Ok(self.push(Node::Case {
            arg,
            whens,
            default,
        }))
    }

    /// A function call's arguments, after `name(`.
    fn call(&mut self, name: List, first: Token<'a>) -> Parsed<Id> {
        if first.kind == TokenKind::Identifier
            && NOT_FUNCTIONS
                .iter()
                .any(|w| first.text.eq_ignore_ascii_case(w))
            && name.first == name.last
        {
            return Err(Unsupported);
        }
        let mut star = false;
        let mut distinct = false;
        let mut args = List::EMPTY;
        if self.is_operator("*") {
            self.pos += 1;
            star = true;
        } else if !self.is_kind(TokenKind::CloseParen) {
            if self.eat_keyword("distinct") {
                distinct = true;
            } else if self.is_keyword("all") || self.is_keyword("variadic") {
                return Err(Unsupported);
            }
            args = self.expr_list()?;
        }
        self.expect_kind(TokenKind::CloseParen)?;
        if self.is_keyword("over")
            || self.is_keyword("filter")
            || self.is_keyword("within")
            || self.is_kind(TokenKind::OpenBracket)
            || self.is_kind(TokenKind::Dot)
            || self.is_kind(TokenKind::String)
        {
            return Err(Unsupported);
        }
        Ok(self.push(Node::FuncCall {
            name,
            args,
            star,
            distinct,
        }))
    }

    /// A type after `::` or `CAST(... AS`: a plain or schema-qualified name, or a built-in
    /// type by its SQL name, with modifiers and `[]`.
    fn type_name(&mut self) -> Parsed<TypeName<'a>> {
        let token = self.bump()?;
        let word =
            |w: &str| token.kind == TokenKind::Identifier && token.text.eq_ignore_ascii_case(w);
        let system = if word("int") || word("integer") {
            Some("int4")
        } else if word("smallint") {
            Some("int2")
        } else if word("bigint") {
            Some("int8")
        } else if word("real") {
            Some("float4")
        } else if word("float") {
            // `float(p)` picks float4 or float8 by the precision.
            if self.is_kind(TokenKind::OpenParen) {
                return Err(Unsupported);
            }
            Some("float8")
        } else if word("double") {
            self.expect_keyword("precision")?;
            Some("float8")
        } else if word("boolean") {
            Some("bool")
        } else if word("numeric") || word("decimal") || word("dec") {
            Some("numeric")
        } else if word("varchar") {
            Some("varchar")
        } else if word("character") || word("char") {
            Some(if self.eat_keyword("varying") {
                "varchar"
            } else {
                "bpchar"
            })
        } else if word("timestamp") || word("time") {
            self.modifiers()?;
            let zone = self.eat_keyword("with");
            if zone || self.eat_keyword("without") {
                self.expect_keyword("time")?;
                self.expect_keyword("zone")?;
            }
            Some(match (word("timestamp"), zone) {
                (true, false) => "timestamp",
                (true, true) => "timestamptz",
                (false, false) => "time",
                (false, true) => "timetz",
            })
        } else if word("interval") {
            if self.is_kind(TokenKind::OpenParen) || self.is_kind(TokenKind::Identifier) {
                return Err(Unsupported);
            }
            Some("interval")
        } else if word("json") {
            Some("json")
        } else if word("bit") {
            Some(if self.eat_keyword("varying") {
                "varbit"
            } else {
                "bit"
            })
        } else {
            None
        };
        // Of the built-in types, only these take modifiers here (`numeric(10, 2)`,
        // `varchar(50)`); the time types took theirs before `WITH TIME ZONE`.
        let modifiable = ["numeric", "varchar", "bpchar", "bit", "varbit"];
        let ty = if let Some(name) = system {
            if modifiable.contains(&name) {
                self.modifiers()?;
            }
            TypeName::System { name, arrays: 0 }
        } else {
            if token.kind == TokenKind::Identifier
                && (token.text.eq_ignore_ascii_case("setof")
                    || token.text.eq_ignore_ascii_case("national"))
            {
                return Err(Unsupported);
            }
            let first = plain_name(token).ok_or(Unsupported)?;
            let (schema, name) = if self.eat_kind(TokenKind::Dot) {
                (Some(first), self.name()?)
            } else {
                (None, first)
            };
            if self.is_kind(TokenKind::Dot) || self.is_operator("%") {
                return Err(Unsupported);
            }
            self.modifiers()?;
            TypeName::Named {
                schema,
                name,
                arrays: 0,
            }
        };
        let mut arrays = 0u8;
        while self.is_kind(TokenKind::OpenBracket) && self.is_kind_at(1, TokenKind::CloseBracket) {
            self.pos += 2;
            arrays = arrays.saturating_add(1);
        }
        if self.is_kind(TokenKind::OpenBracket) || self.is_keyword("array") {
            return Err(Unsupported);
        }
        Ok(match ty {
            TypeName::System { name, .. } => TypeName::System { name, arrays },
            TypeName::Named { schema, name, .. } => TypeName::Named {
                schema,
                name,
                arrays,
            },
        })
    }

    /// A type's modifiers, `(10)` or `(10, 2)`: constants, which the fingerprint skips.
    fn modifiers(&mut self) -> Parsed<()> {
        if !self.eat_kind(TokenKind::OpenParen) {
            return Ok(());
        }
        loop {
            if !self.is_kind(TokenKind::Number) && !self.is_kind(TokenKind::String) {
                return Err(Unsupported);
            }
            self.pos += 1;
            if !self.eat_kind(TokenKind::Comma) {
                break;
            }
        }
        self.expect_kind(TokenKind::CloseParen)
    }

    fn is_kind_at(&self, ahead: usize, kind: TokenKind) -> bool {
        self.peek_at(ahead).is_some_and(|token| token.kind == kind)
    }
}

/// An operator spelled as the fingerprint writes it, for the operators the subset knows.
fn static_operator(text: &str) -> &'static str {
    const OPERATORS: &[&str] = &[
        "=", "<", ">", "<=", ">=", "<>", "+", "-", "*", "/", "%", "^", "||", "->", "->>", "#>",
        "#>>", "@>", "<@", "&&", "@@", "~", "~*", "!~", "!~*", "?", "?|", "?&",
    ];
    OPERATORS
        .iter()
        .find(|op| **op == text)
        .copied()
        .unwrap_or("")
}

/// The operator the cursor sits on, with how it combines its operands.
#[derive(Clone, Copy)]
struct Infix {
    level: u8,
    /// Tokens the operator spans (`NOT LIKE` is two, `IS NOT NULL` three).
    tokens: usize,
    form: Form,
}

#[derive(Clone, Copy)]
enum Form {
    Binary {
        kind: &'static str,
        name: &'static str,
    },
    Bool(&'static str),
    NullTest(&'static str),
    BooleanTest(&'static str),
    In {
        name: &'static str,
    },
    Between {
        kind: &'static str,
        name: &'static str,
    },
    Any {
        name: &'static str,
    },
}

/// Whether a quoted token is closed: its quotes come in pairs (the opening and closing ones,
/// and each doubled quote inside). The lexer ends an unclosed one at the end of the text.
fn closed(text: &str, quote: u8) -> bool {
    text.len() >= 2
        && text.ends_with(quote as char)
        && text.bytes().filter(|byte| *byte == quote).count() % 2 == 0
}

/// Constants the subset takes: closed strings without backslash escapes, and plain decimal
/// numbers (PostgreSQL rejects some other forms the lexer lets through, such as `1e`).
fn well_formed_constant(token: Token<'_>) -> bool {
    let text = token.text;
    match token.kind {
        // A constant continued on another line may have comments between its parts, and
        // PostgreSQL's scanner ends it early when one holds a quote; those are left to it.
        TokenKind::String => {
            closed(text, b'\'') && !(text.contains(['\n', '\r']) && text.contains("--"))
        }
        // No doubled-quote escape in bit strings: `B'01''1'` is two constants to PostgreSQL.
        TokenKind::BitString | TokenKind::HexString => text.get(1..).is_some_and(|rest| {
            rest.len() >= 2
                && rest.starts_with('\'')
                && rest.ends_with('\'')
                && !rest[1..rest.len() - 1].contains(['\'', '\n'])
        }),
        TokenKind::DollarString => {
            let tag_end = text[1..].find('$').map(|at| at + 2);
            tag_end.is_some_and(|end| text.len() >= 2 * end && text.ends_with(&text[..end]))
        }
        TokenKind::Number => {
            let bytes = text.as_bytes();
            let digits = |from: usize| {
                let mut at = from;
                while at < bytes.len() && bytes[at].is_ascii_digit() {
                    at += 1;
                }
                at
            };
            let mut at = digits(0);
            let mut any = at > 0;
            if bytes.get(at) == Some(&b'.') {
                let after = digits(at + 1);
                any |= after > at + 1;
                at = after;
            }
            if any && matches!(bytes.get(at), Some(b'e' | b'E')) {
                at += 1;
                if matches!(bytes.get(at), Some(b'+' | b'-')) {
                    at += 1;
                }
                let after = digits(at);
                if after == at {
                    return false;
                }
                at = after;
            }
            any && at == bytes.len()
        }
        _ => false,
    }
}

/// A quoted identifier's name, or `None` when PostgreSQL would reject or truncate it.
fn quoted_name(token: Token<'_>) -> Option<Name<'_>> {
    if !closed(token.text, b'"') {
        return None;
    }
    let inner = token.text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.is_empty() || inner.len() > MAX_IDENTIFIER {
        return None;
    }
    Some(Name {
        text: inner,
        quoted: true,
    })
}

/// An identifier that may stand as a column, table or function name: quoted, or an unquoted
/// word that is not a reserved keyword.
fn plain_name(token: Token<'_>) -> Option<Name<'_>> {
    match token.kind {
        TokenKind::QuotedIdentifier => quoted_name(token),
        TokenKind::Identifier => {
            let text = token.text;
            if text.len() > MAX_IDENTIFIER || !text.is_ascii() {
                return None;
            }
            let mut lower = [0u8; MAX_IDENTIFIER];
            let lower = &mut lower[..text.len()];
            lower.copy_from_slice(text.as_bytes());
            lower.make_ascii_lowercase();
            let lower = std::str::from_utf8(lower).ok()?;
            if is_reserved(lower) {
                return None;
            }
            Some(Name {
                text,
                quoted: false,
            })
        }
        _ => None,
    }
}

/// An alias after `AS`, which may be any keyword.
fn plain_or_keyword(token: Token<'_>) -> Option<Name<'_>> {
    match token.kind {
        TokenKind::QuotedIdentifier => quoted_name(token),
        _ if token.text.len() <= MAX_IDENTIFIER && token.text.is_ascii() => Some(Name {
            text: token.text,
            quoted: false,
        }),
        _ => None,
    }
}

/// Where a node is written: a `ResTarget` in a SELECT's target list omits its name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    SelectTargets,
    Other,
}

/// Which list fields pg_query hashes as sets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    AsWritten,
    ByHash,
}

struct Writer<'n, 'a> {
    nodes: &'n [Node<'a>],
    next: &'n [Id],
    stream: Vec<u8>,
    spans: Vec<(u64, usize, usize)>,
    scratch: Vec<u8>,
    depth: u32,
    /// Set when the tree is deeper than [`MAX_TREE_DEPTH`]: the stream is then abandoned.
    too_deep: bool,
}

impl Writer<'_, '_> {
    fn text(&mut self, text: &str) {
        self.stream.extend_from_slice(text.as_bytes());
    }

    fn name(&mut self, name: Name<'_>) {
        if name.quoted {
            // `""` inside a quoted identifier is one quote.
            let mut rest = name.text;
            while let Some(at) = rest.find("\"\"") {
                self.stream.extend_from_slice(&rest.as_bytes()[..=at]);
                rest = &rest[at + 2..];
            }
            self.stream.extend_from_slice(rest.as_bytes());
        } else {
            self.stream
                .extend(name.text.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }

    /// A String node: `String`, `str`, the value.
    fn string(&mut self, name: Name<'_>) {
        self.text("String");
        self.text("str");
        self.name(name);
    }

    /// Writes `name` and then the field's value, and takes `name` back when the value wrote
    /// nothing, as pg_query does.
    fn field(&mut self, name: &str, value: impl FnOnce(&mut Self)) {
        let mark = self.stream.len();
        self.text(name);
        let after = self.stream.len();
        value(self);
        if self.stream.len() == after {
            self.stream.truncate(mark);
        }
    }

    fn node_field(&mut self, name: &str, id: Id) {
        if id != NONE {
            self.field(name, |w| w.node(id, Context::Other));
        }
    }

    fn list_field(&mut self, name: &str, list: List, order: Order, context: Context) {
        if !list.is_empty() {
            self.field(name, |w| w.list(list, order, context));
        }
    }

    fn list(&mut self, list: List, order: Order, context: Context) {
        let mut id = list.first;
        if order == Order::AsWritten {
            while id != NONE {
                self.node(id, context);
                id = self.next[id as usize];
            }
            return;
        }
        let start = self.stream.len();
        let base = self.spans.len();
        while id != NONE {
            let from = self.stream.len();
            self.node(id, context);
            let to = self.stream.len();
            let hash = xxh3_64_with_seed(&self.stream[from..to], SEED);
            self.spans.push((hash, from, to));
            id = self.next[id as usize];
        }
        self.spans[base..].sort_unstable_by_key(|span| span.0);
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.stream[start..]);
        self.stream.truncate(start);
        let mut previous = None;
        for index in base..self.spans.len() {
            let (hash, from, to) = self.spans[index];
            if previous == Some(hash) {
                continue;
            }
            previous = Some(hash);
            self.stream
                .extend_from_slice(&self.scratch[from - start..to - start]);
        }
        self.spans.truncate(base);
    }

    fn range_var(&mut self, schema: Option<Name<'_>>, relation: Name<'_>) {
        self.text("inh");
        self.text("true");
        self.text("relname");
        // pg_query drops runs of two or more digits from table names, so that partitions
        // and numbered shards (`events_2024_01`) share a fingerprint.
        let from = self.stream.len();
        self.name(relation);
        let end = self.stream.len();
        let mut write = from;
        let mut previous_digit = false;
        for read in from..end {
            let byte = self.stream[read];
            let digit = byte.is_ascii_digit();
            let next_digit = read + 1 < end && self.stream[read + 1].is_ascii_digit();
            if !(digit && (previous_digit || next_digit)) {
                self.stream[write] = byte;
                write += 1;
            }
            previous_digit = digit;
        }
        self.stream.truncate(write);
        self.text("relpersistence");
        self.text("p");
        if let Some(schema) = schema {
            self.text("schemaname");
            self.name(schema);
        }
    }

    fn select(&mut self, select: Select) {
        if select.distinct {
            // `DISTINCT` is a list holding one empty element; pg_query keeps the field name.
            self.text("distinctClause");
        }
        self.list_field(
            "distinctClause",
            select.distinct_on,
            Order::AsWritten,
            Context::Other,
        );
        self.list_field("fromClause", select.from, Order::ByHash, Context::Other);
        self.list_field(
            "groupClause",
            select.group,
            Order::AsWritten,
            Context::Other,
        );
        self.node_field("havingClause", select.having);
        self.node_field("limitCount", select.limit);
        self.node_field("limitOffset", select.offset);
        self.text("limitOption");
        self.text(match select.limit_option {
            LimitOption::Default => "LIMIT_OPTION_DEFAULT",
            LimitOption::Count => "LIMIT_OPTION_COUNT",
        });
        self.list_field(
            "lockingClause",
            select.locking,
            Order::AsWritten,
            Context::Other,
        );
        self.text("op");
        self.text("SETOP_NONE");
        self.list_field("sortClause", select.sort, Order::AsWritten, Context::Other);
        self.list_field(
            "targetList",
            select.targets,
            Order::ByHash,
            Context::SelectTargets,
        );
        self.list_field("valuesLists", select.values, Order::ByHash, Context::Other);
        self.node_field("whereClause", select.filter);
    }

    fn node(&mut self, id: Id, context: Context) {
        if self.depth >= MAX_TREE_DEPTH {
            self.too_deep = true;
            return;
        }
        self.depth += 1;
        self.node_fields(id, context);
        self.depth -= 1;
    }

    fn node_fields(&mut self, id: Id, context: Context) {
        match self.nodes[id as usize] {
            Node::Const | Node::CastConst => {}
            Node::Str(name) => self.string(name),
            Node::Star => self.text("A_Star"),
            Node::ColumnRef(fields) => {
                self.text("ColumnRef");
                self.list_field("fields", fields, Order::AsWritten, Context::Other);
            }
            Node::AExpr {
                kind,
                name,
                lexpr,
                rexpr,
            } => {
                self.text("A_Expr");
                self.text("kind");
                self.text(kind);
                self.node_field("lexpr", lexpr);
                self.text("name");
                self.text("String");
                self.text("str");
                self.text(name);
                if rexpr != NONE {
                    // A list in `rexpr` (IN, BETWEEN) is a set; a single node is not.
                    self.field("rexpr", |w| match w.nodes[rexpr as usize] {
                        Node::List(list) => w.list(list, Order::ByHash, Context::Other),
                        _ => w.node(rexpr, Context::Other),
                    });
                }
            }
            Node::BoolExpr { op, args } => {
                self.text("BoolExpr");
                self.list_field("args", args, Order::ByHash, Context::Other);
                self.text("boolop");
                self.text(op);
            }
            Node::NullTest { arg, test } => {
                self.text("NullTest");
                self.node_field("arg", arg);
                self.text("nulltesttype");
                self.text(test);
            }
            Node::FuncCall {
                name,
                args,
                star,
                distinct,
            } => {
                self.text("FuncCall");
                if distinct {
                    self.text("agg_distinct");
                    self.text("true");
                }
                if star {
                    self.text("agg_star");
                    self.text("true");
                }
                self.list_field("args", args, Order::ByHash, Context::Other);
                self.text("funcformat");
                self.text("COERCE_EXPLICIT_CALL");
                self.list_field("funcname", name, Order::AsWritten, Context::Other);
            }
            Node::ResTarget { name, val } => {
                self.text("ResTarget");
                if let Some(name) = name {
                    if context != Context::SelectTargets {
                        self.text("name");
                        self.name(name);
                    }
                }
                self.node_field("val", val);
            }
            Node::RangeVar { schema, relation } => {
                self.text("RangeVar");
                self.range_var(schema, relation);
            }
            Node::JoinExpr {
                kind,
                left,
                right,
                quals,
            } => {
                self.text("JoinExpr");
                self.text("jointype");
                self.text(kind);
                self.node_field("larg", left);
                self.node_field("quals", quals);
                self.node_field("rarg", right);
            }
            Node::SortBy { node, dir, nulls } => {
                self.text("SortBy");
                self.node_field("node", node);
                self.text("sortby_dir");
                self.text(dir);
                self.text("sortby_nulls");
                self.text(nulls);
            }
            // A bare list is only ever a VALUES row, itself an element of `valuesLists`.
            Node::List(list) => self.list(list, Order::ByHash, Context::Other),
            Node::Select(select) => {
                self.text("SelectStmt");
                self.select(select);
            }
            Node::Insert {
                cols,
                on_conflict,
                relation,
                returning,
                select,
            } => {
                self.text("InsertStmt");
                self.list_field("cols", cols, Order::ByHash, Context::Other);
                self.node_field("onConflictClause", on_conflict);
                self.text("override");
                self.text("OVERRIDING_NOT_SET");
                self.relation(relation);
                self.list_field("returningList", returning, Order::AsWritten, Context::Other);
                self.node_field("selectStmt", select);
            }
            Node::Update {
                relation,
                targets,
                from,
                filter,
                returning,
            } => {
                self.text("UpdateStmt");
                self.list_field("fromClause", from, Order::ByHash, Context::Other);
                self.relation(relation);
                self.list_field("returningList", returning, Order::AsWritten, Context::Other);
                self.list_field("targetList", targets, Order::ByHash, Context::Other);
                self.node_field("whereClause", filter);
            }
            Node::TypeCast { arg, ty } => {
                self.text("TypeCast");
                self.node_field("arg", arg);
                self.text("typeName");
                self.type_name(ty);
            }
            Node::SqlValue(op) => {
                self.text("SQLValueFunction");
                self.text("op");
                self.text(op);
                self.text("typmod");
                self.text("-1");
            }
            Node::BooleanTest { arg, test } => {
                self.text("BooleanTest");
                self.node_field("arg", arg);
                self.text("booltesttype");
                self.text(test);
            }
            Node::Coalesce(args) => {
                self.text("CoalesceExpr");
                self.list_field("args", args, Order::ByHash, Context::Other);
            }
            Node::MinMax { args, op } => {
                self.text("MinMaxExpr");
                self.list_field("args", args, Order::ByHash, Context::Other);
                self.text("op");
                self.text(op);
            }
            Node::SubLink { kind, select, test } => {
                self.text("SubLink");
                self.text("subLinkType");
                self.text(kind);
                self.node_field("subselect", select);
                self.node_field("testexpr", test);
            }
            Node::RangeSubselect(select) => {
                self.text("RangeSubselect");
                self.node_field("subquery", select);
            }
            Node::Case {
                arg,
                whens,
                default,
            } => {
                self.text("CaseExpr");
                self.node_field("arg", arg);
                self.list_field("args", whens, Order::ByHash, Context::Other);
                self.node_field("defresult", default);
            }
            Node::CaseWhen { expr, result } => {
                self.text("CaseWhen");
                self.node_field("expr", expr);
                self.node_field("result", result);
            }
            Node::Locking {
                rels,
                strength,
                wait,
            } => {
                self.text("LockingClause");
                self.list_field("lockedRels", rels, Order::AsWritten, Context::Other);
                self.text("strength");
                self.text(strength);
                self.text("waitPolicy");
                self.text(wait);
            }
            Node::IndexElem(name) => {
                self.text("IndexElem");
                self.text("name");
                self.name(name);
                self.text("nulls_ordering");
                self.text("SORTBY_NULLS_DEFAULT");
                self.text("ordering");
                self.text("SORTBY_DEFAULT");
            }
            Node::OnConflict {
                action,
                elems,
                constraint,
                infer_filter,
                targets,
                filter,
            } => {
                // Written inside InsertStmt's `onConflictClause` field, without a node name;
                // the inference clause likewise.
                self.text("action");
                self.text(action);
                if constraint.is_some() || !elems.is_empty() {
                    self.field("infer", |w| {
                        if let Some(constraint) = constraint {
                            w.text("conname");
                            w.name(constraint);
                        }
                        w.list_field("indexElems", elems, Order::AsWritten, Context::Other);
                        w.node_field("whereClause", infer_filter);
                    });
                }
                self.list_field("targetList", targets, Order::ByHash, Context::Other);
                self.node_field("whereClause", filter);
            }
            Node::Transaction(kind) => {
                self.text("TransactionStmt");
                self.text("kind");
                self.text(kind);
            }
            Node::Delete {
                relation,
                filter,
                returning,
            } => {
                self.text("DeleteStmt");
                self.relation(relation);
                self.list_field("returningList", returning, Order::AsWritten, Context::Other);
                self.node_field("whereClause", filter);
            }
        }
    }

    /// A TypeName's fields; its modifiers are constants, which write nothing.
    fn type_name(&mut self, ty: TypeName<'_>) {
        let arrays = match ty {
            TypeName::System { arrays, .. } | TypeName::Named { arrays, .. } => arrays,
        };
        if arrays > 0 {
            self.text("arrayBounds");
            for _ in 0..arrays {
                self.text("Integer");
                self.text("ival");
                self.text("-1");
            }
        }
        self.text("names");
        match ty {
            TypeName::System { name, .. } => {
                self.text("String");
                self.text("str");
                self.text("pg_catalog");
                self.text("String");
                self.text("str");
                self.text(name);
            }
            TypeName::Named { schema, name, .. } => {
                if let Some(schema) = schema {
                    self.string(schema);
                }
                self.string(name);
            }
        }
        self.text("typemod");
        self.text("-1");
    }

    /// A statement's target table: a RangeVar written without its node name.
    fn relation(&mut self, id: Id) {
        if let Node::RangeVar { schema, relation } = self.nodes[id as usize] {
            self.text("relation");
            self.range_var(schema, relation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FastFingerprinter;
    use crate::shape_key_into;

    fn pg_query(sql: &str) -> Option<u64> {
        pg_query::fingerprint(sql).ok().map(|f| f.value)
    }

    /// The subset's answer, held against pg_query's: a `Some` must be pg_query's value, for
    /// text pg_query accepts.
    fn checked(fast: &mut FastFingerprinter, sql: &str) -> Option<u64> {
        let ours = fast.fingerprint(sql);
        if let Some(value) = ours {
            assert_eq!(
                Some(value),
                pg_query(sql),
                "the subset's fingerprint differs from pg_query's for {sql}"
            );
        }
        ours
    }

    #[test]
    fn covers_what_apps_send_and_agrees_with_pg_query() {
        let supported = [
            "SELECT a, b FROM t WHERE c = $1 AND d IN (1, 2) ORDER BY e DESC LIMIT 10",
            "select \"users\".\"id\", \"users\".\"email\" from \"users\" where \"users\".\"id\" = 5 limit 21",
            "SELECT * FROM a JOIN b ON a.id = b.a_id LEFT JOIN c ON c.x = b.x",
            "SELECT t.* FROM s.t1234 AS u, v CROSS JOIN w RIGHT OUTER JOIN x ON true FULL JOIN y ON y.a = x.a",
            "SELECT DISTINCT a FROM t",
            "SELECT ALL a FROM t",
            "SELECT a FROM t WHERE b NOT IN (1, 2) AND c NOT LIKE $1 AND d ILIKE 'x' AND (e = 1 OR f = 2) AND g NOT BETWEEN 1 AND 2",
            "SELECT s.f(a, b, 1), lower(c) FROM t WHERE a IS NULL ORDER BY a ASC NULLS FIRST, b NULLS LAST LIMIT $1 OFFSET $2",
            "SELECT a FROM t OFFSET 5",
            "SELECT a FROM t OFFSET 5 LIMIT 2",
            "SELECT a FROM t WHERE x = 1 AND y = 2 OR z = 3 AND NOT w = 4",
            "SELECT a FROM t WHERE (x = 1 AND y = 2) AND z = 3",
            "SELECT a FROM t WHERE x = 1 AND (y = 2 AND z = 3)",
            "SELECT a FROM t WHERE NOT a IS NOT NULL",
            "SELECT count(DISTINCT a), -b, a * (b + c) / 2 % 3 ^ 2 FROM t GROUP BY a HAVING count(*) > 1",
            "SELECT a || b, c -> 'k', d ->> 'k', e @> $1, f && $2, g ~ 'x' FROM t",
            "SELECT '1'::int, $1::text, null::uuid, date '2020-01-01', timestamp '2020-01-01', interval '1 day' FROM t",
            "SELECT l_returnflag, sum(l_quantity) AS sum_qty, avg(l_extendedprice) FROM lineitem WHERE l_shipdate <= date '1998-12-01' - interval '60 day' GROUP BY l_returnflag ORDER BY 1, 2",
            "SELECT 1 AS x, 2 y, a AS \"Select\", b AS from FROM t",
            "SELECT a, a, b FROM t WHERE c IN (d, d, 1) AND e = ANY($1) AND f <> ALL_ID",
            "SELECT a FROM t WHERE id = ANY ($1) OR id = SOME ($2)",
            "SELECT name, type, value FROM \"Mixed\"\"Quote\" WHERE key = $1",
            "SELECT events_2024_01.a FROM events_2024_01, events1, e12x3",
            "SELECT a FROM t WHERE a = $1;",
            "SELECT a FROM t WHERE (a = 1) = (b = 2)",
            "SELECT a FROM t WHERE a IS NULL = b",
            "SELECT a FROM t WHERE a LIKE 'x' || $1",
            "SELECT a FROM t WHERE a + 1 BETWEEN b - 1 AND c * 2",
            "SELECT a FROM t WHERE - a > 1",
            "SELECT now(), count(*) FROM t",
            "INSERT INTO t (a, b) VALUES (1, now()), ($1, 2) RETURNING id",
            "INSERT INTO events (kind, payload, at) VALUES ('login', '{}', now()), ('view', '{}', now())",
            "INSERT INTO t AS x VALUES (1)",
            "INSERT INTO s.t (b, a, b) VALUES (1, 1, 1) RETURNING *, id AS Ident",
            "UPDATE t SET a = 1, b = b + 1 WHERE id = $1",
            "UPDATE t x SET a = x.b FROM u WHERE u.id = x.id RETURNING x.a",
            "DELETE FROM t WHERE id = ANY($1)",
            "DELETE FROM t AS x WHERE x.id = 1 RETURNING *",
            "DELETE FROM t",
            "SELECT a FROM t WHERE b IN (SELECT c FROM u)",
            "SELECT (SELECT 1)",
            "SELECT CASE WHEN a THEN 1 END FROM t",
            "SELECT a::int FROM t",
            "SELECT date 'x'::int, (''::int)::text FROM t",
            "SELECT coalesce(a, b) FROM t",
            "SELECT a FROM t FOR UPDATE",
            "SELECT a FROM t WHERE a = -1",
            "SELECT a FROM t WHERE a IS TRUE",
            "INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING",
            "SELECT a::text, b::int, c::varchar(5), d::timestamp with time zone, e::double precision, f::int[], g::s.t, h::character varying, i::numeric(10,2), j::timestamptz, k::boolean, l::json, m::bigint, n::real, o::float, p::timestamp, q::time without time zone, r::smallint, s::decimal, t::char, u::interval, v::jsonb, w::bit, x::text[][]",
            "SELECT CAST(a AS text), CAST($1 AS int), a::text::int FROM t",
            "SELECT a FROM t FOR UPDATE SKIP LOCKED",
            "SELECT a FROM t LIMIT 1 FOR NO KEY UPDATE OF t NOWAIT",
            "SELECT a FROM t FOR SHARE LIMIT 1",
            "SELECT a FROM t FOR KEY SHARE OF t, u FOR UPDATE",
            "SELECT CURRENT_TIMESTAMP, current_date, current_user, localtimestamp, now()",
            "SELECT a IS DISTINCT FROM b, a IS NOT DISTINCT FROM b, a IS TRUE, a IS NOT FALSE, a IS UNKNOWN FROM t",
            "SELECT DISTINCT ON (a, b) a FROM t ORDER BY a, b",
            "SELECT coalesce(a, b), nullif(a, b), greatest(a, b), least(a, 1) FROM t",
            "SELECT EXISTS (SELECT 1 FROM u WHERE u.a = t.a), (SELECT max(b) FROM u) FROM t WHERE a IN (SELECT b FROM u) AND a NOT IN (SELECT c FROM u)",
            "SELECT x.a FROM (SELECT a FROM t) AS x JOIN (SELECT b FROM u LIMIT 1) y ON x.a = y.b",
            "SELECT CASE WHEN a = 1 THEN 'x' WHEN a = 2 THEN b ELSE c END, CASE a WHEN 1 THEN b END FROM t",
            "INSERT INTO t (a, b) VALUES (1, 2) ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b RETURNING id",
            "INSERT INTO t (a, b) VALUES (1, 2) ON CONFLICT (a, b) WHERE c DO UPDATE SET b = t.b + 1 WHERE t.x = 1",
            "INSERT INTO t (a) VALUES (1) ON CONFLICT ON CONSTRAINT t_pkey DO NOTHING",
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, -4, CURRENT_TIMESTAMP)",
            "SELECT a FROM t WHERE a = -1 AND b = - 1::int AND c = -a",
            "BEGIN",
            "begin transaction",
            "START TRANSACTION",
            "COMMIT",
            "END",
            "ROLLBACK WORK",
        ];
        let mut fast = FastFingerprinter::default();
        for sql in supported {
            assert!(
                checked(&mut fast, sql).is_some(),
                "the subset should cover {sql}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_left_to_pg_query_without_overflowing_the_stack() {
        let mut fast = FastFingerprinter::default();
        for (open, close) in [("(", ")"), ("(SELECT * FROM ", ") x")] {
            let sql = format!(
                "SELECT * FROM t WHERE a = {}1{}",
                open.repeat(20_000),
                close.repeat(20_000)
            );
            assert_eq!(fast.fingerprint(&sql), None);
            let sql = format!(
                "SELECT * FROM {}t{}",
                open.repeat(20_000),
                close.repeat(20_000)
            );
            assert_eq!(fast.fingerprint(&sql), None);
        }
        // Chains parse without recursion but make deep trees; pg_query cuts its walk at
        // depth 100, so they are left to it.
        for chain in [" + a", "::text", " || 'x'"] {
            let sql = format!("SELECT a{} FROM t", chain.repeat(20_000));
            assert_eq!(fast.fingerprint(&sql), None);
        }
        let sql = format!("SELECT a{} FROM t", " + a".repeat(20));
        assert!(checked(&mut fast, &sql).is_some());
    }

    #[test]
    fn leaves_the_rest_to_pg_query() {
        let unsupported = [
            // Invalid SQL: pg_query reports the error.
            "SELECT a FROM",
            "SELECT a FROM t WHERE",
            "SELECT a = b = c",
            "SELECT a FROM t WHERE b = 1 = false",
            "SELECT a < b > c FROM t",
            "SELECT a FROM t WHERE a IS NULL IS NULL",
            "SELECT a FROM t WHERE a LIKE b LIKE c",
            "SELECT 123abc",
            "SELECT se'app.ttrue)",
            "SELECT a FROM t WHERE b = 'x''",
            "SELECT \"a\"\" FROM t",
            "SELECT 1e FROM t",
            "SELECT 1 /* open",
            "SELECT $$x$ FROM t",
            "SELECT*il",
            "SELECT B'01''10'",
            "SELECT 'a' -- x\n -- it's\n 'b'",
            "SELECT * AS x FROM t",
            "SELECT \"a\u{0}b\" FROM t",
            "SELECT $1abc",
            "SELECT a FROM t t2 t3",
            "SELECT a FROM t WHERE a IN ()",
            "SELECT a b c FROM t",
            "SELECT a over FROM t",
            "SELECT a FROM t; SELECT b FROM t",
            "SELECT \"\" FROM t",
            "UPDATE t SET a = 1 WHERE",
            "INSERT INTO t VALUES",
            // Valid, but outside the subset.
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SELECT count(*) OVER () FROM t",
            "SELECT a FROM t UNION SELECT b FROM u",
            "SELECT a FROM ONLY t",
            "SELECT interval '1' day",
            "SELECT timestamp with time zone '2020-01-01'",
            "SELECT a FROM t WHERE a = NOT b",
            "SELECT a FROM t WHERE a LIKE 'x' ESCAPE '!'",
            "SELECT a FROM t GROUP BY ROLLUP (a)",
            "SELECT a::int(5), a::timestamp with time zone (3), a::boolean(1) FROM t",
            "SELECT a FROM t WHERE a = - - 1",
            "SELECT CURRENT_TIMESTAMP(3)",
            "SELECT CASE END",
            "INSERT INTO t (a) VALUES (1) ON CONFLICT DO UPDATE SET a = 1",
            "SELECT a FROM t WHERE a = ANY (SELECT b FROM u)",
            "BEGIN ISOLATION LEVEL SERIALIZABLE",
            "SELECT a FROM t ORDER BY a USING <",
            "SELECT a FROM t LIMIT ALL",
            "SELECT a[1] FROM t",
            "SELECT t.from FROM t",
            "INSERT INTO t (a) VALUES (DEFAULT)",
            "INSERT INTO t SELECT 1",
            "UPDATE t SET (a, b) = (1, 2)",
            "DELETE FROM t USING u WHERE t.id = u.id",
            "SELECT a FROM t WHERE a = b COLLATE \"C\"",
            "SELECT a FROM t WHERE a AT TIME ZONE 'UTC' > now()",
        ];
        let mut fast = FastFingerprinter::default();
        for sql in unsupported {
            assert_eq!(
                checked(&mut fast, sql),
                None,
                "the subset should leave {sql} to pg_query"
            );
        }
    }

    /// Every statement of the corpus (`tests/corpus`), as written and as its shape key.
    fn corpus() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        let mut statements = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(file).unwrap();
            for statement in pg_query::split_with_parser(&text).unwrap() {
                let statement = statement.trim();
                if !statement.is_empty() {
                    statements.push(statement.to_string());
                }
            }
        }
        statements
    }

    #[test]
    fn agrees_with_pg_query_on_the_corpus_and_its_shape_keys() {
        let mut fast = FastFingerprinter::default();
        let mut key = String::new();
        let statements = corpus();
        let mut covered = 0;
        for sql in &statements {
            if checked(&mut fast, sql).is_some() {
                covered += 1;
            } else if std::env::var("SHOW_UNCOVERED").is_ok() {
                eprintln!("UNCOVERED {}", sql.replace('\n', " "));
            }
            shape_key_into(sql, &mut key);
            checked(&mut fast, &key);
        }
        // Most of the corpus is ORM and pgbench traffic; the analytic and DDL statements are
        // left to pg_query. A drop here means the subset stopped covering what apps send.
        assert!(
            covered * 100 >= statements.len() * 60,
            "the subset covers {covered} of {} corpus statements",
            statements.len()
        );
    }

    /// A seeded xorshift, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Random statements from fragments of the subset's grammar and of what lies just
    /// outside it, valid or not: whatever the subset answers must be pg_query's answer.
    #[test]
    fn agrees_with_pg_query_on_generated_statements() {
        const ATOMS: &[&str] = &[
            "a",
            "t.b",
            "\"C\"",
            "$1",
            "1",
            "'x'",
            "null",
            "true",
            "name",
            "s.t.c",
            "f()",
            "lower(a)",
            "count(*)",
            "x.*",
            "-a",
            "date 'x'",
            "''::int",
            "(a)",
            "from",
            "1abc",
            "a::text",
            "$1::int[]",
            "CAST(a AS int)",
            "coalesce(a, 1)",
            "nullif(a, b)",
            "CURRENT_TIMESTAMP",
            "(SELECT b FROM u)",
            "EXISTS (SELECT 1)",
            "-1",
            "- 1::int",
            "CASE WHEN a THEN b ELSE c END",
            "greatest(a, $1)",
            "a::timestamp with time zone",
            "- -1",
            "''::text::int",
            "user",
        ];
        const OPERATORS: &[&str] = &[
            " = ",
            " <> ",
            " != ",
            " < ",
            " >= ",
            " + ",
            " - ",
            " * ",
            " / ",
            " || ",
            " -> ",
            " AND ",
            " OR ",
            " LIKE ",
            " NOT LIKE ",
            " ILIKE ",
            " IS NULL ",
            " IS NOT NULL ",
            " = ANY ",
            " IN ",
            " NOT IN ",
            " BETWEEN ",
            " AND NOT ",
            " ^ ",
            " % ",
            " @> ",
            " NOT ",
            " :: ",
            " , ",
            " IS TRUE ",
            " IS NOT UNKNOWN ",
            " IS DISTINCT FROM ",
            " IN (SELECT b FROM u) ",
            " NOT IN (SELECT b FROM u WHERE c) ",
        ];
        fn expression(rng: &mut Rng, depth: usize) -> String {
            let mut out = String::new();
            let terms = 1 + rng.below(4);
            for i in 0..terms {
                if i > 0 {
                    out.push_str(OPERATORS[rng.below(OPERATORS.len())]);
                }
                match rng.below(8) {
                    0 if depth < 3 => out.push_str(&format!("({})", expression(rng, depth + 1))),
                    1 if depth < 3 => out.push_str(&format!(
                        "({}, {})",
                        expression(rng, depth + 1),
                        expression(rng, depth + 1)
                    )),
                    2 if depth < 3 => out.push_str(&format!("g({})", expression(rng, depth + 1))),
                    _ => out.push_str(ATOMS[rng.below(ATOMS.len())]),
                }
            }
            out
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut fast = FastFingerprinter::default();
        let mut covered = 0;
        let rounds = 30_000;
        for _ in 0..rounds {
            let sql = match rng.below(7) {
                0 => format!("SELECT {} FROM t", expression(&mut rng, 0)),
                1 => format!(
                    "SELECT a, {} FROM t x JOIN u ON {} WHERE {} ORDER BY {} LIMIT 5",
                    expression(&mut rng, 1),
                    expression(&mut rng, 1),
                    expression(&mut rng, 0),
                    expression(&mut rng, 2)
                ),
                2 => format!(
                    "UPDATE t SET a = {} WHERE {}",
                    expression(&mut rng, 1),
                    expression(&mut rng, 0)
                ),
                3 => format!(
                    "INSERT INTO t (a, b) VALUES ({}, {}) RETURNING {}",
                    expression(&mut rng, 1),
                    expression(&mut rng, 1),
                    expression(&mut rng, 2)
                ),
                4 => format!("DELETE FROM t WHERE {}", expression(&mut rng, 0)),
                5 => format!(
                    "SELECT DISTINCT ON ({}) a FROM (SELECT {} FROM u) s WHERE {} FOR UPDATE",
                    expression(&mut rng, 2),
                    expression(&mut rng, 1),
                    expression(&mut rng, 0)
                ),
                _ => format!(
                    "INSERT INTO t (a) VALUES ({}) ON CONFLICT (a) DO UPDATE SET b = {} WHERE {}",
                    expression(&mut rng, 1),
                    expression(&mut rng, 1),
                    expression(&mut rng, 1)
                ),
            };
            if checked(&mut fast, &sql).is_some() {
                covered += 1;
            }
        }
        // Most generated text is not valid SQL by design; what parses is what gets checked.
        assert!(
            covered > rounds / 20,
            "only {covered} generated statements were covered"
        );
    }
}
