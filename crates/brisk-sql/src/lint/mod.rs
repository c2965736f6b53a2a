//! `brisk lint`'s rules: the anti-patterns the seed teams fixed by hand, found in SQL text
//! with PostgreSQL's own parser.
//!
//! [`lint`] splits a script into statements, parses each, and runs every enabled [`Rule`]
//! over the parse tree. Each [`LintIssue`] points at a byte offset of the script and, where
//! a rewrite is clear, carries it as SQL built by editing the parse tree and deparsing it,
//! so the rewrite is valid SQL rather than text surgery.

pub(crate) mod tree;
mod walk;

use pg_query::protobuf::{AExprKind, BoolExprType, Node, SelectStmt, SubLinkType};
use pg_query::NodeEnum;

use crate::error::SqlError;
use crate::fingerprint::fingerprint;
use crate::normalize::normalize;
use tree::*;
use walk::{Place, Visitor};

/// One anti-pattern `brisk lint` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// `SELECT *` in a query's output.
    SelectStar,
    /// `UPDATE` or `DELETE` without `WHERE`.
    WriteWithoutWhere,
    /// `OFFSET` of 1,000 or more, or a parameter.
    LargeOffset,
    /// `LIKE '%...'`: no btree index can serve it.
    LeadingWildcardLike,
    /// `lower(email) = ...`: a function around a filtered column.
    FunctionOnColumn,
    /// `x NOT IN (SELECT ...)`.
    NotInSubquery,
    /// `a = 1 OR b = 2`: an OR across different columns.
    OrAcrossColumns,
    /// The same single-row `INSERT ... VALUES` again and again.
    SingleRowInsert,
    /// `count(*) > 0` where `EXISTS` would stop at the first row.
    CountForExistence,
}

impl Rule {
    /// Every rule, in the order they are documented.
    pub const ALL: [Rule; 9] = [
        Rule::SelectStar,
        Rule::WriteWithoutWhere,
        Rule::LargeOffset,
        Rule::LeadingWildcardLike,
        Rule::FunctionOnColumn,
        Rule::NotInSubquery,
        Rule::OrAcrossColumns,
        Rule::SingleRowInsert,
        Rule::CountForExistence,
    ];

    /// The stable id users switch the rule off by.
    pub fn id(self) -> &'static str {
        match self {
            Rule::SelectStar => "sql.select_star",
            Rule::WriteWithoutWhere => "sql.write_without_where",
            Rule::LargeOffset => "sql.large_offset",
            Rule::LeadingWildcardLike => "sql.leading_wildcard_like",
            Rule::FunctionOnColumn => "sql.function_on_column",
            Rule::NotInSubquery => "sql.not_in_subquery",
            Rule::OrAcrossColumns => "sql.or_across_columns",
            Rule::SingleRowInsert => "sql.single_row_insert",
            Rule::CountForExistence => "sql.count_for_existence",
        }
    }

    /// What the rule looks for, in one line.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::SelectStar => "SELECT * in a query's output",
            Rule::WriteWithoutWhere => "UPDATE or DELETE without WHERE",
            Rule::LargeOffset => "OFFSET of 1,000 or more, or a parameterized OFFSET",
            Rule::LeadingWildcardLike => "LIKE/ILIKE patterns that start with a wildcard",
            Rule::FunctionOnColumn => "a function or cast around a filtered column",
            Rule::NotInSubquery => "NOT IN (subquery)",
            Rule::OrAcrossColumns => "OR across different columns",
            Rule::SingleRowInsert => "the same single-row INSERT repeated",
            Rule::CountForExistence => "count(*) compared with 0 to test existence",
        }
    }

    /// The rule with this id; the `sql.` prefix may be left out.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL
            .into_iter()
            .find(|rule| rule.id() == id || rule.id().strip_prefix("sql.") == Some(id))
    }
}

/// How bad an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LintSeverity {
    /// Costs performance.
    Warning,
    /// Loses or corrupts data when run as written.
    Critical,
}

/// One anti-pattern found.
#[derive(Debug, Clone, PartialEq)]
pub struct LintIssue {
    /// Which anti-pattern.
    pub rule: Rule,
    /// How bad it is.
    pub severity: LintSeverity,
    /// Byte offset in the linted text where the problem is.
    pub offset: usize,
    /// The statement, normalized (`$n` for values).
    pub statement: String,
    /// One line: what is wrong.
    pub message: String,
    /// Why it matters and what to do.
    pub detail: String,
    /// SQL that does the same without the problem, when one is clear.
    pub rewrite: Option<String>,
}

/// A statement PostgreSQL's parser rejects.
#[derive(Debug, Clone, PartialEq)]
pub struct LintError {
    /// Byte offset in the linted text: the parser's position, or the statement's start.
    pub offset: usize,
    /// The parser's message.
    pub message: String,
}

/// What linting a text found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LintOutcome {
    /// Statements found in the text.
    pub statements: usize,
    /// Anti-patterns found, in text order.
    pub issues: Vec<LintIssue>,
    /// Statements that do not parse.
    pub errors: Vec<LintError>,
}

/// A run of `INSERT ... VALUES (one row)` of the same shape needs this many statements
/// before it is worth batching; two in a migration are normal.
const REPEATED_INSERTS: usize = 3;

/// OFFSET at or above this reads and throws away enough rows to matter on every page.
const LARGE_OFFSET: i64 = 1_000;

/// Lints `text`, a script of `;`-separated statements, with every rule except `skip`.
///
/// ```
/// use brisk_sql::{lint, Rule};
///
/// let outcome = lint("SELECT * FROM users WHERE lower(email) = 'a@b.c';", &[]);
/// let rules: Vec<Rule> = outcome.issues.iter().map(|i| i.rule).collect();
/// assert_eq!(rules, [Rule::SelectStar, Rule::FunctionOnColumn]);
/// ```
pub fn lint(text: &str, skip: &[Rule]) -> LintOutcome {
    let mut outcome = LintOutcome::default();
    let mut inserts: Vec<InsertRun> = Vec::new();
    for crate::Statement {
        offset: start,
        text: statement,
        ..
    } in crate::split(text)
    {
        outcome.statements += 1;
        let parsed = match pg_query::parse(statement) {
            Ok(parsed) => parsed,
            Err(error) => {
                let error = SqlError::from_pg_query(statement, error);
                let SqlError::Parse { message, position } = error;
                outcome.errors.push(LintError {
                    offset: start + position.unwrap_or(0),
                    message,
                });
                continue;
            }
        };
        let version = parsed.protobuf.version;
        for raw in &parsed.protobuf.stmts {
            let Some(root) = raw.stmt.as_deref().and_then(|n| n.node.as_ref()) else {
                continue;
            };
            let mut rules = Rules {
                text: statement,
                start,
                version,
                issues: Vec::new(),
                frames: Vec::new(),
            };
            rules.run(root);
            outcome
                .issues
                .extend(rules.issues.into_iter().filter(|i| !skip.contains(&i.rule)));
            if !skip.contains(&Rule::SingleRowInsert) {
                collect_insert(root, statement, start, &mut inserts);
            }
        }
    }
    outcome
        .issues
        .extend(repeated_inserts(inserts, outcome.statements));
    outcome.issues.sort_by_key(|i| (i.offset, i.rule));
    outcome
}

/// What the rules know about the statement (or subquery) being walked.
struct Frame<'a> {
    scope: Scope,
    select: Option<&'a SelectStmt>,
}

struct Rules<'a> {
    text: &'a str,
    start: usize,
    version: i32,
    issues: Vec<LintIssue>,
    frames: Vec<Frame<'a>>,
}

impl<'a> Rules<'a> {
    fn run(&mut self, root: &'a NodeEnum) {
        self.select_star(root);
        self.write_without_where(root);
        walk::statement(root, self);
    }

    fn offset(&self, location: i32) -> usize {
        self.start + usize::try_from(location).unwrap_or(0).min(self.text.len())
    }

    fn issue(
        &mut self,
        rule: Rule,
        location: i32,
        message: String,
        detail: String,
        rewrite: Option<String>,
    ) {
        let severity = if rule == Rule::WriteWithoutWhere {
            LintSeverity::Critical
        } else {
            LintSeverity::Warning
        };
        self.issues.push(LintIssue {
            rule,
            severity,
            offset: self.offset(location),
            statement: normalize(self.text),
            message,
            detail,
            rewrite,
        });
    }

    /// `SELECT *` in the output of the statement itself (not inside EXISTS, where `*` is
    /// idiomatic, nor in a subquery the outer query narrows).
    fn select_star(&mut self, root: &NodeEnum) {
        let NodeEnum::SelectStmt(select) = root else {
            return;
        };
        let mut stars = Vec::new();
        outer_star_locations(select, &mut stars);
        if let Some(location) = stars.first() {
            self.issue(
                Rule::SelectStar,
                *location,
                "SELECT * fetches every column".to_string(),
                "It reads and sends columns the caller does not use, defeats index-only scans, and changes shape when a column is added. List the columns you need.".to_string(),
                None,
            );
        }
    }

    fn write_without_where(&mut self, root: &NodeEnum) {
        let (verb, relation) = match root {
            NodeEnum::UpdateStmt(u) if u.where_clause.is_none() => ("UPDATE", u.relation.as_ref()),
            NodeEnum::DeleteStmt(d) if d.where_clause.is_none() => ("DELETE", d.relation.as_ref()),
            _ => return,
        };
        let table = relation.map(range_var_name).unwrap_or_default();
        let detail = if verb == "DELETE" {
            format!("It deletes every row of {table}. If that is the intent, TRUNCATE {table} is much faster and leaves no dead rows; otherwise add the WHERE clause.")
        } else {
            format!("It rewrites every row of {table}, leaving as many dead rows behind. Add the WHERE clause, or batch a deliberate full update by key ranges.")
        };
        self.issue(
            Rule::WriteWithoutWhere,
            0,
            format!("{verb} without WHERE changes every row of {table}"),
            detail,
            None,
        );
    }

    fn large_offset(&mut self, select: &SelectStmt) {
        let Some(offset) = select.limit_offset.as_deref().and_then(|n| n.node.as_ref()) else {
            return;
        };
        let (location, what) = match offset {
            NodeEnum::AConst(c) => match int_value(c) {
                Some(n) if n >= LARGE_OFFSET => (c.location, format!("OFFSET {n}")),
                _ => return,
            },
            NodeEnum::ParamRef(p) => (p.location, format!("OFFSET ${}", p.number)),
            _ => return,
        };
        let rewrite = keyset_rewrite(select, self.version, self.text);
        let how = match &rewrite {
            Some(_) => " The rewrite continues after the last row of the previous page: pass its sort values as the new parameters.",
            None => " Keyset pagination needs an ORDER BY on columns in one direction, ending in a unique one: WHERE (sort columns) > (values of the last row seen) ... LIMIT n.",
        };
        self.issue(
            Rule::LargeOffset,
            location,
            format!("{what} reads and discards every row before the page"),
            format!("The cost grows with the page number: page 500 reads 500 pages' worth of rows.{how}"),
            rewrite,
        );
    }

    fn like(&mut self, expr: &pg_query::protobuf::AExpr, scope: &Scope) {
        let kind = AExprKind::try_from(expr.kind).unwrap_or(AExprKind::Undefined);
        let operator = operator_name(&expr.name);
        let is_like = matches!(kind, AExprKind::AexprLike | AExprKind::AexprIlike)
            || matches!(operator.as_deref(), Some("~~" | "~~*" | "!~~" | "!~~*"));
        if !is_like {
            return;
        }
        let Some(pattern) = expr.rexpr.as_deref().and_then(string_const) else {
            return;
        };
        if !(pattern.starts_with('%') || pattern.starts_with('_')) {
            return;
        }
        let column = expr.lexpr.as_deref().and_then(column_ref);
        let index = column
            .as_ref()
            .and_then(|c| scope.resolve(c))
            .map(|(table, column)| {
                format!(
                    "CREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {table} USING gin ({column} gin_trgm_ops);",
                    index_name(&table, &[&column], "trgm_idx")
                )
            });
        self.issue(
            Rule::LeadingWildcardLike,
            expr.location,
            format!("The pattern '{pattern}' starts with a wildcard"),
            "A btree index can only serve a pattern with a fixed prefix, so this scans every row. A trigram GIN index (pg_trgm) serves any substring search; for searching words, full-text search (to_tsvector ... @@ plainto_tsquery) ranks better.".to_string(),
            index,
        );
    }

    fn function_on_column(&mut self, expr: &pg_query::protobuf::AExpr, scope: &Scope) {
        let kind = AExprKind::try_from(expr.kind).unwrap_or(AExprKind::Undefined);
        let comparison = match kind {
            AExprKind::AexprOp => matches!(
                operator_name(&expr.name).as_deref(),
                Some("=" | "<" | ">" | "<=" | ">=" | "<>" | "!=")
            ),
            AExprKind::AexprIn | AExprKind::AexprBetween | AExprKind::AexprNotBetween => true,
            _ => false,
        };
        if !comparison {
            return;
        }
        for side in [expr.lexpr.as_deref(), expr.rexpr.as_deref()]
            .into_iter()
            .flatten()
        {
            let Some(wrapped) = wrapped_column(side) else {
                continue;
            };
            // `col = other_col` on both sides is a join, not a filter on a value.
            let other = if std::ptr::eq(side, expr.lexpr.as_deref().unwrap_or(side)) {
                expr.rexpr.as_deref()
            } else {
                expr.lexpr.as_deref()
            };
            if other.is_some_and(references_column) {
                continue;
            }
            let rewrite = scope.resolve(&wrapped.column).map(|(table, column)| {
                let expression = wrapped.render(&column);
                format!(
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {table} (({expression}));",
                    index_name(&table, &[&wrapped.function, &column], "idx")
                )
            });
            let advice = if wrapped.is_date_truncation() {
                " For a date, compare the column to a range instead (created_at >= $1 AND created_at < $1 + interval '1 day'), which a plain index on the column serves."
            } else {
                ""
            };
            self.issue(
                Rule::FunctionOnColumn,
                wrapped.location,
                format!("{}({}) hides the column from its indexes", wrapped.function, wrapped.column.name),
                format!("An index on {} cannot serve a condition on {}({}): PostgreSQL must compute it for every row. Index the expression itself, or rewrite the condition on the bare column.{advice}", wrapped.column.name, wrapped.function, wrapped.column.name),
                rewrite,
            );
            break;
        }
    }

    fn not_in_subquery(&mut self, expr: &pg_query::protobuf::BoolExpr) {
        if BoolExprType::try_from(expr.boolop) != Ok(BoolExprType::NotExpr) {
            return;
        }
        let Some(NodeEnum::SubLink(link)) = expr.args.first().and_then(|n| n.node.as_ref()) else {
            return;
        };
        if SubLinkType::try_from(link.sub_link_type) != Ok(SubLinkType::AnySublink) {
            return;
        }
        let rewrite = not_exists_rewrite(link, self.version);
        self.issue(
            Rule::NotInSubquery,
            link.location,
            "NOT IN (subquery) cannot become an anti-join".to_string(),
            "If the subquery returns a single NULL, NOT IN matches no row at all, and because of that rule PostgreSQL cannot plan it as an anti-join: it scans the subquery result for every outer row. NOT EXISTS says what is meant and plans as an anti-join.".to_string(),
            rewrite.map(|r| format!("-- in place of the NOT IN condition:\n{r}")),
        );
    }

    fn or_across_columns(&mut self, expr: &pg_query::protobuf::BoolExpr) {
        if BoolExprType::try_from(expr.boolop) != Ok(BoolExprType::OrExpr) {
            return;
        }
        let mut columns: Vec<String> = Vec::new();
        for arg in &expr.args {
            let mut found = Vec::new();
            columns_in(arg, &mut found);
            if found.is_empty() {
                return;
            }
            for column in found {
                let name = column.display();
                if !columns.contains(&name) {
                    columns.push(name);
                }
            }
        }
        if columns.len() < 2 {
            return;
        }
        self.issue(
            Rule::OrAcrossColumns,
            expr.location,
            format!("OR across {}", columns.join(", ")),
            "One index cannot serve conditions on different columns joined by OR: PostgreSQL combines two indexes with a BitmapOr at best, and scans the table at worst. Split the query into a UNION (or UNION ALL when no row can match both) of one query per condition, each with its own index.".to_string(),
            None,
        );
    }

    fn count_for_existence(
        &mut self,
        root_select: Option<&SelectStmt>,
        expr: &pg_query::protobuf::AExpr,
    ) {
        if AExprKind::try_from(expr.kind) != Ok(AExprKind::AexprOp) {
            return;
        }
        let Some(operator) = operator_name(&expr.name) else {
            return;
        };
        let (Some(left), Some(right)) = (expr.lexpr.as_deref(), expr.rexpr.as_deref()) else {
            return;
        };
        let Some(exists) = existence_test(left, &operator, right) else {
            return;
        };
        let count = if is_count_star(left) { left } else { right };
        let rewrite = match count.node.as_ref() {
            // `(SELECT count(*) FROM ...) > 0`: the subquery becomes EXISTS (SELECT 1 ...).
            Some(NodeEnum::SubLink(link)) => link
                .subselect
                .as_deref()
                .and_then(|s| exists_fragment(s, exists, self.version))
                .map(|r| format!("-- in place of the count comparison:\n{r}")),
            // `SELECT count(*) > 0 FROM t WHERE ...`: the whole statement becomes one.
            _ => root_select.and_then(|select| exists_statement(select, exists, self.version)),
        };
        self.issue(
            Rule::CountForExistence,
            expr.location,
            "count(*) counts every matching row to learn whether there is one".to_string(),
            "EXISTS stops at the first matching row; count(*) reads them all.".to_string(),
            rewrite,
        );
    }
}

impl<'a> Visitor<'a> for Rules<'a> {
    fn select(&mut self, select: &'a SelectStmt) {
        self.large_offset(select);
        self.frames.push(Frame {
            scope: Scope::of_select(select),
            select: Some(select),
        });
    }

    fn statement(&mut self, statement: &'a NodeEnum) {
        self.frames.push(Frame {
            scope: Scope::of_write(statement),
            select: None,
        });
    }

    fn end_statement(&mut self) {
        self.frames.pop();
    }

    fn expression(&mut self, node: &'a NodeEnum, place: Place) {
        let Some(frame) = self.frames.last() else {
            return;
        };
        let scope = frame.scope.clone();
        let select = frame.select;
        match (node, place) {
            (NodeEnum::AExpr(e), Place::Filter) => {
                self.like(e, &scope);
                self.function_on_column(e, &scope);
                self.count_for_existence(None, e);
            }
            // `SELECT count(*) > 0 FROM ...`: the comparison is the query's output.
            (NodeEnum::AExpr(e), Place::Other) => self.count_for_existence(select, e),
            (NodeEnum::BoolExpr(e), Place::Filter) => {
                self.not_in_subquery(e);
                self.or_across_columns(e);
            }
            _ => {}
        }
    }
}

/// One run of same-shaped single-row inserts.
struct InsertRun {
    fingerprint: u64,
    first_offset: usize,
    first_text: String,
    rows: Vec<Node>,
    template: pg_query::protobuf::InsertStmt,
    version: i32,
}

fn collect_insert(root: &NodeEnum, text: &str, start: usize, runs: &mut Vec<InsertRun>) {
    let NodeEnum::InsertStmt(insert) = root else {
        return;
    };
    let Some(NodeEnum::SelectStmt(values)) =
        insert.select_stmt.as_deref().and_then(|n| n.node.as_ref())
    else {
        return;
    };
    if values.values_lists.len() != 1 {
        return;
    }
    let Ok(print) = fingerprint(text) else {
        return;
    };
    match runs.iter_mut().find(|run| run.fingerprint == print.0) {
        Some(run) => run.rows.extend(values.values_lists.iter().cloned()),
        None => runs.push(InsertRun {
            fingerprint: print.0,
            first_offset: start,
            first_text: text.to_string(),
            rows: values.values_lists.clone(),
            template: (**insert).clone(),
            version: pg_query::parse(text)
                .map(|p| p.protobuf.version)
                .unwrap_or(0),
        }),
    }
}

fn repeated_inserts(runs: Vec<InsertRun>, _statements: usize) -> Vec<LintIssue> {
    runs.into_iter()
        .filter(|run| run.rows.len() >= REPEATED_INSERTS)
        .map(|run| {
            let table = run
                .template
                .relation
                .as_ref()
                .map(range_var_name)
                .unwrap_or_default();
            let n = run.rows.len();
            let rewrite = multi_row_insert(&run.template, run.rows, run.version);
            LintIssue {
                rule: Rule::SingleRowInsert,
                severity: LintSeverity::Warning,
                offset: run.first_offset,
                statement: normalize(&run.first_text),
                message: format!("{n} single-row INSERTs into {table}"),
                detail: format!("Each INSERT is a round trip and, outside a transaction, a commit. One INSERT with {n} rows does the same work once; for thousands of rows, COPY {table} FROM STDIN is faster still."),
                rewrite,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
