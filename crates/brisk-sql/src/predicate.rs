//! A `WHERE` condition given on its own (`brisk cleanup --where`), checked to be exactly one
//! boolean expression before anything is built around it.

use pg_query::protobuf::SetOperation;
use pg_query::NodeEnum;

use crate::analysis::{analyze, TableUsage};
use crate::error::SqlError;
use crate::lint::tree::deparse_condition;

/// A condition on one table, as PostgreSQL's parser read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    /// The condition, deparsed: comments gone, parenthesized as the parser grouped it, so it
    /// can be placed inside another statement without changing meaning.
    pub sql: String,
    /// The table's columns the condition uses, by kind (equality, range, null tests, ...).
    pub usage: TableUsage,
}

/// Parses `condition` as the `WHERE` of a query on `table` (a name as SQL spells it, quoted
/// where needed). Anything that is not a single boolean expression is refused: a `;` and a
/// second statement, `UNION`, `ORDER BY`, `LIMIT`, `GROUP BY`, `FOR UPDATE`, or text that
/// would close the condition early (`true) OR (true`).
///
/// ```
/// let p = brisk_sql::parse_predicate("messages", "expires_at < now() -- old").unwrap();
/// assert_eq!(p.sql, "expires_at < now()");
/// assert_eq!(p.usage.range[0].column, "expires_at");
/// assert!(brisk_sql::parse_predicate("messages", "1=1; drop table x").is_err());
/// ```
pub fn parse_predicate(table: &str, condition: &str) -> Result<Predicate, SqlError> {
    let refuse = |reason: &str| SqlError::Parse {
        message: format!("--where must be one condition, such as \"expires_at < now()\": {reason}"),
        position: None,
    };
    if condition.trim().is_empty() {
        return Err(refuse("it is empty"));
    }
    // The newline ends a trailing `--` comment before anything brisk adds.
    let sql = format!("SELECT 1 FROM {table} WHERE {condition}\n");
    let parsed = pg_query::parse(&sql).map_err(|e| match SqlError::from_pg_query(&sql, e) {
        // The message may quote the text, newline included: one line.
        SqlError::Parse { message, .. } => {
            refuse(&message.split_whitespace().collect::<Vec<_>>().join(" "))
        }
    })?;
    let statements = &parsed.protobuf.stmts;
    // A statement ended by `;` has its length recorded; the last one without `;` has 0.
    if statements.len() != 1 || statements[0].stmt_len != 0 {
        return Err(refuse(&format!(
            "it holds {} statements (a `;`)",
            statements.len()
        )));
    }
    let Some(NodeEnum::SelectStmt(select)) =
        statements[0].stmt.as_deref().and_then(|s| s.node.as_ref())
    else {
        return Err(refuse("it is not a condition"));
    };
    let extra = [
        (select.op != SetOperation::SetopNone as i32, "UNION"),
        (!select.sort_clause.is_empty(), "ORDER BY"),
        (
            select.limit_count.is_some() || select.limit_offset.is_some(),
            "LIMIT or OFFSET",
        ),
        (
            !select.group_clause.is_empty() || select.having_clause.is_some(),
            "GROUP BY or HAVING",
        ),
        (!select.window_clause.is_empty(), "WINDOW"),
        (!select.locking_clause.is_empty(), "FOR UPDATE"),
        (select.into_clause.is_some(), "INTO"),
        (select.from_clause.len() != 1, "more tables"),
    ];
    if let Some((_, what)) = extra.iter().find(|(present, _)| *present) {
        return Err(refuse(&format!("it adds {what} to the query")));
    }
    let Some(condition) = select.where_clause.as_deref().cloned() else {
        return Err(refuse("it is not a condition"));
    };
    let deparsed = deparse_condition(condition, parsed.protobuf.version)
        .ok_or_else(|| refuse("PostgreSQL's deparser could not print it back"))?;
    let usage = analyze(&format!("SELECT 1 FROM {table} WHERE {deparsed}"))?
        .into_iter()
        .next()
        .and_then(|statement| statement.tables.into_iter().next())
        .ok_or_else(|| refuse("it does not read the table"))?;
    Ok(Predicate {
        sql: deparsed,
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_predicate;

    #[test]
    fn one_condition_is_accepted_and_printed_back_whole() {
        let p = parse_predicate("public.messages", "expires_at < now() AND NOT pinned").unwrap();
        assert_eq!(p.sql, "expires_at < now() AND NOT pinned");
        assert_eq!(p.usage.range[0].column, "expires_at");
        assert_eq!(p.usage.equality[0].column, "pinned");
        let p = parse_predicate("m", "a = 1 OR b = 2 /* c */").unwrap();
        // Placed in `x AND (...)`, the OR must stay together.
        assert_eq!(p.sql, "a = 1 OR b = 2");
        let p = parse_predicate("m", "created_at < now() - interval '30 days' -- old").unwrap();
        assert_eq!(p.sql, "created_at < (now() - '30 days'::interval)");
    }

    #[test]
    fn anything_more_than_one_condition_is_refused() {
        for bad in [
            "1=1; drop table x",
            "true) OR (true",
            "true UNION SELECT 1",
            "true ORDER BY 1",
            "true LIMIT 1",
            "true GROUP BY 1",
            "true FOR UPDATE",
            "true; ",
            "",
            "   ",
            "expires_at <",
            "/* unterminated",
        ] {
            let error = parse_predicate("messages", bad).unwrap_err().to_string();
            assert!(
                error.starts_with("--where must be one condition"),
                "{bad:?}: {error}"
            );
            assert!(!error.contains('\n'), "{bad:?}: one line: {error}");
        }
    }
}
