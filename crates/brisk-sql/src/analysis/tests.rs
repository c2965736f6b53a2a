//! One small query per feature. The corpus-wide expectations are in `tests/analysis.rs`.

use super::*;
use crate::test_inputs::{char_boundary_prefixes, random_sql, NASTY_QUERIES};

/// The analysis of a one-statement query.
fn one(sql: &str) -> StatementAnalysis {
    let mut all = analyze(sql).expect("the query parses");
    assert_eq!(all.len(), 1, "one statement in {sql}");
    all.remove(0)
}

/// The only reference to `name` (a table name or an alias) in `sql`.
fn usage(sql: &str, name: &str) -> TableUsage {
    let analysis = one(sql);
    let mut matching = analysis
        .tables
        .iter()
        .filter(|t| t.table.name == name || t.alias.as_deref() == Some(name));
    let found = matching
        .next()
        .unwrap_or_else(|| panic!("no {name} in {analysis:#?}"));
    assert!(matching.next().is_none(), "several {name} in {analysis:#?}");
    found.clone()
}

fn columns(predicates: &[ColumnPredicate]) -> Vec<&str> {
    predicates.iter().map(|p| p.column.as_str()).collect()
}

fn constants(usage: &TableUsage) -> Vec<String> {
    usage.constants.iter().map(ToString::to_string).collect()
}

fn unresolved(analysis: &StatementAnalysis) -> Vec<(&str, ColumnUsage)> {
    analysis
        .unresolved
        .iter()
        .map(|u| (u.column.as_str(), u.usage))
        .collect()
}

fn table(name: &str) -> TableName {
    TableName::new(name)
}

fn column(name: &str) -> OutputColumn {
    OutputColumn::Column(name.to_string())
}

// Kinds.

#[test]
fn each_statement_gets_its_kind() {
    let kinds = |sql: &str| -> Vec<StatementKind> {
        analyze(sql)
            .expect("parses")
            .iter()
            .map(|a| a.kind)
            .collect()
    };
    use StatementKind::*;
    assert_eq!(
        kinds(
            "SELECT 1; VALUES (1); SELECT 1 UNION SELECT 2; INSERT INTO t VALUES (1); \
             UPDATE t SET a = 1; DELETE FROM t; \
             MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE"
        ),
        [Select, Select, Select, Insert, Update, Delete, Update]
    );
    assert_eq!(
        kinds(
            "CREATE TABLE t (a int); ALTER TABLE t ADD b int; CREATE INDEX ON t (a); DROP TABLE t; \
             TRUNCATE t; GRANT SELECT ON t TO r; COMMENT ON TABLE t IS 'x'; \
             CREATE TABLE u AS SELECT 1; SELECT 1 INTO u2; REFRESH MATERIALIZED VIEW m"
        ),
        [Ddl, Ddl, Ddl, Ddl, Ddl, Ddl, Ddl, Ddl, Ddl, Ddl]
    );
    assert_eq!(
        kinds(
            "BEGIN; START TRANSACTION; COMMIT; END; ROLLBACK; SAVEPOINT s; RELEASE SAVEPOINT s; \
             ROLLBACK TO SAVEPOINT s; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; \
             SET CONSTRAINTS ALL DEFERRED; PREPARE TRANSACTION 'x'"
        ),
        [
            Transaction,
            Transaction,
            Transaction,
            Transaction,
            Transaction,
            Transaction,
            Transaction,
            Transaction,
            Transaction,
            Transaction,
            Transaction
        ]
    );
    assert_eq!(
        kinds(
            "SET search_path TO a; SHOW work_mem; RESET ALL; VACUUM t; ANALYZE t; EXPLAIN SELECT 1; \
             COPY t TO STDOUT; LISTEN c; NOTIFY c; UNLISTEN *; PREPARE p AS SELECT 1; EXECUTE p; \
             DEALLOCATE p; LOCK TABLE t; CALL p(); DO $$ BEGIN END $$; DISCARD ALL; CHECKPOINT; \
             DECLARE c CURSOR FOR SELECT 1; FETCH c; CLOSE c; CLUSTER t; REINDEX TABLE t"
        ),
        vec![Utility; 23]
    );
}

#[test]
fn an_empty_text_has_no_statements() {
    assert_eq!(analyze("").expect("parses"), []);
    assert_eq!(analyze(" -- only a comment\n").expect("parses"), []);
}

#[test]
fn invalid_sql_is_a_parse_error_with_the_position() {
    let sql = "SELECT * FROM t WHERE";
    let Err(SqlError::Parse { message, position }) = analyze(sql) else {
        panic!("expected a parse error");
    };
    assert!(message.contains("syntax error"), "{message}");
    assert_eq!(position, Some(sql.len()));
}

#[test]
fn nesting_deeper_than_the_decoder_allows_is_an_error_not_a_crash() {
    let deep = format!("SELECT {}x{}", "lower(".repeat(500), ")".repeat(500));
    assert!(analyze(&deep).is_err());
    let mut nested = "SELECT 1".to_string();
    for _ in 0..300 {
        nested = format!("SELECT * FROM ({nested}) s WHERE x IN (SELECT y FROM t)");
    }
    assert!(analyze(&nested).is_err());
}

#[test]
fn awkward_and_truncated_input_never_panics() {
    for query in NASTY_QUERIES {
        for prefix in char_boundary_prefixes(query) {
            let _ = analyze(prefix);
        }
    }
    for query in random_sql(5_000) {
        let _ = analyze(&query);
    }
}

// Reads and writes.

#[test]
fn reads_cover_joins_subqueries_and_cte_bodies_but_not_cte_names() {
    let analysis = one("WITH recent AS (SELECT * FROM events WHERE at > $1) \
         SELECT * FROM users u JOIN recent r ON r.user_id = u.id \
         WHERE EXISTS (SELECT 1 FROM bans b WHERE b.user_id = u.id) \
         AND u.org_id IN (SELECT id FROM orgs) AND u.id = ANY (SELECT user_id FROM admins)");
    assert_eq!(
        analysis.reads,
        [
            table("events"),
            table("users"),
            table("bans"),
            table("orgs"),
            table("admins")
        ]
    );
    assert_eq!(analysis.writes, []);
}

#[test]
fn write_targets_are_writes_and_their_sources_reads() {
    let insert = one("INSERT INTO archive SELECT * FROM orders WHERE closed");
    assert_eq!(
        (insert.reads, insert.writes),
        (vec![table("orders")], vec![table("archive")])
    );

    let update = one("UPDATE orders o SET vip = true FROM customers c WHERE c.id = o.customer_id");
    assert_eq!(update.reads, [table("customers")]);
    assert_eq!(update.writes, [table("orders")]);

    let delete = one("DELETE FROM items i USING orders o WHERE i.order_id = o.id");
    assert_eq!(
        (delete.reads, delete.writes),
        (vec![table("orders")], vec![table("items")])
    );

    let merge =
        one("MERGE INTO stock s USING incoming i ON s.sku = i.sku WHEN MATCHED THEN DELETE");
    assert_eq!(
        (merge.reads, merge.writes),
        (vec![table("incoming")], vec![table("stock")])
    );

    let cte = one(
        "WITH gone AS (DELETE FROM sessions RETURNING *) INSERT INTO archive SELECT * FROM gone",
    );
    assert_eq!(cte.reads, []);
    assert_eq!(cte.writes, [table("sessions"), table("archive")]);
}

#[test]
fn tables_are_listed_once_with_the_schema_only_where_written() {
    let analysis = one("SELECT * FROM app.users a JOIN users b ON a.id = b.id \
         WHERE a.id IN (SELECT user_id FROM app.users)");
    assert_eq!(
        analysis.reads,
        [TableName::qualified("app", "users"), table("users")]
    );
    assert_eq!(analysis.tables.len(), 3, "one usage per reference");
    assert_eq!(
        TableName::qualified("app", "users").to_string(),
        "app.users"
    );
}

#[test]
fn statements_without_a_query_name_the_tables_they_touch() {
    let writes = |sql: &str| one(sql).writes;
    let reads = |sql: &str| one(sql).reads;
    assert_eq!(
        writes("CREATE INDEX CONCURRENTLY i ON app.t (a)"),
        [TableName::qualified("app", "t")]
    );
    assert_eq!(writes("ALTER TABLE t ADD COLUMN c int"), [table("t")]);
    assert_eq!(
        writes("DROP TABLE IF EXISTS a, s.b"),
        [table("a"), TableName::qualified("s", "b")]
    );
    assert_eq!(writes("DROP INDEX i"), []);
    assert_eq!(writes("TRUNCATE a, b"), [table("a"), table("b")]);
    assert_eq!(
        writes("CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (1) TO (2)"),
        [table("p1"), table("p")]
    );
    assert_eq!(writes("COPY t FROM STDIN"), [table("t")]);
    assert_eq!(reads("COPY t (a, b) TO STDOUT"), [table("t")]);
    assert_eq!(reads("VACUUM (ANALYZE) a, b"), [table("a"), table("b")]);
    assert_eq!(reads("LOCK TABLE t IN SHARE MODE"), [table("t")]);

    let create_as = one("CREATE TABLE summary AS SELECT a, count(*) FROM t GROUP BY a");
    assert_eq!(
        (create_as.reads, create_as.writes),
        (vec![table("t")], vec![table("summary")])
    );
    let no_data = one("CREATE MATERIALIZED VIEW m AS SELECT a FROM t WITH NO DATA");
    assert_eq!((no_data.reads, no_data.writes), (vec![], vec![table("m")]));
}

#[test]
fn explain_prepare_and_cursors_report_the_statement_they_carry() {
    for sql in [
        "EXPLAIN ANALYZE SELECT id FROM t WHERE a = 1 LIMIT 5",
        "PREPARE q AS SELECT id FROM t WHERE a = 1 LIMIT 5",
        "DECLARE c CURSOR FOR SELECT id FROM t WHERE a = 1 LIMIT 5",
        "COPY (SELECT id FROM t WHERE a = 1 LIMIT 5) TO STDOUT",
    ] {
        let analysis = one(sql);
        assert_eq!(analysis.kind, StatementKind::Utility, "{sql}");
        assert_eq!(analysis.reads, [table("t")], "{sql}");
        assert_eq!(analysis.limit, Some(Bound::Constant(5)), "{sql}");
        assert_eq!(columns(&analysis.tables[0].equality), ["a"], "{sql}");
    }
    assert_eq!(one("EXPLAIN DELETE FROM t").writes, [table("t")]);
}

// Cacheability.

#[test]
fn a_plain_select_is_cacheable() {
    let analysis = one(
        "SELECT lower(name), count(*), date_trunc('day', at) FROM t WHERE a = $1 GROUP BY 1, 3",
    );
    assert!(analysis.cacheable);
    assert_eq!(analysis.not_cacheable, []);
    assert!(one("SELECT 1").cacheable);
}

#[test]
fn volatile_functions_anywhere_make_a_select_uncacheable() {
    for (sql, name) in [
        ("SELECT now()", "now"),
        ("SELECT pg_catalog.now()", "now"),
        (
            "SELECT * FROM t WHERE at > clock_timestamp() - interval '1 hour'",
            "clock_timestamp",
        ),
        ("SELECT id FROM t ORDER BY random() LIMIT 1", "random"),
        ("SELECT gen_random_uuid()", "gen_random_uuid"),
        ("SELECT uuid_generate_v4()", "uuid_generate_v4"),
        ("SELECT nextval('s')", "nextval"),
        ("SELECT txid_current()", "txid_current"),
        ("SELECT pg_advisory_xact_lock(1)", "pg_advisory_xact_lock"),
        ("SELECT pg_try_advisory_lock(1)", "pg_try_advisory_lock"),
        ("SELECT pg_sleep(1)", "pg_sleep"),
        (
            "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE at < statement_timestamp())",
            "statement_timestamp",
        ),
        (
            "SELECT CASE WHEN a THEN timeofday() END FROM t",
            "timeofday",
        ),
        ("SELECT * FROM t LIMIT (random() * 10)::int", "random"),
        (
            "SELECT count(*) FILTER (WHERE at > transaction_timestamp()) FROM t",
            "transaction_timestamp",
        ),
        ("SELECT CURRENT_TIMESTAMP", "current_timestamp"),
        ("SELECT * FROM t WHERE d = CURRENT_DATE", "current_date"),
        ("SELECT LOCALTIMESTAMP(3)", "localtimestamp"),
        ("SELECT CURRENT_USER", "current_user"),
        ("SELECT make_interval(secs => random())", "random"),
        ("SELECT JSON_OBJECT('at' VALUE now())", "now"),
        (
            "SELECT * FROM generate_series(1, 10) g WHERE g < random() * 10",
            "random",
        ),
    ] {
        let analysis = one(sql);
        assert!(!analysis.cacheable, "{sql}");
        assert_eq!(
            analysis.not_cacheable,
            [NotCacheable::VolatileFunction(name.to_string())],
            "{sql}"
        );
    }
}

#[test]
fn row_locks_make_a_select_uncacheable() {
    for (clause, lock) in [
        ("FOR UPDATE", RowLock::Update),
        ("FOR NO KEY UPDATE", RowLock::NoKeyUpdate),
        ("FOR SHARE", RowLock::Share),
        ("FOR KEY SHARE", RowLock::KeyShare),
        ("FOR UPDATE SKIP LOCKED", RowLock::Update),
    ] {
        let analysis = one(&format!("SELECT * FROM t WHERE id = 1 {clause}"));
        assert_eq!(
            analysis.not_cacheable,
            [NotCacheable::RowLock(lock)],
            "{clause}"
        );
    }
    let nested = one("UPDATE t SET a = 1 WHERE id = (SELECT id FROM t LIMIT 1 FOR UPDATE)");
    assert_eq!(
        nested.not_cacheable,
        [
            NotCacheable::NotASelect,
            NotCacheable::RowLock(RowLock::Update)
        ]
    );
}

#[test]
fn a_data_modifying_cte_makes_a_select_uncacheable() {
    let analysis = one("WITH n AS (INSERT INTO t (a) VALUES (1) RETURNING id) SELECT id FROM n");
    assert_eq!(analysis.kind, StatementKind::Select);
    assert_eq!(analysis.not_cacheable, [NotCacheable::DataModifyingCte]);
    assert_eq!(analysis.writes, [table("t")]);
    assert!(one("WITH n AS (SELECT 1) SELECT * FROM n").cacheable);
}

#[test]
fn only_selects_are_cacheable() {
    for sql in [
        "INSERT INTO t VALUES (1)",
        "BEGIN",
        "SET a = 1",
        "CREATE TABLE t (a int)",
    ] {
        assert_eq!(one(sql).not_cacheable, [NotCacheable::NotASelect], "{sql}");
    }
    assert_eq!(
        one("UPDATE t SET at = now()").not_cacheable,
        [
            NotCacheable::NotASelect,
            NotCacheable::VolatileFunction("now".to_string())
        ]
    );
}

#[test]
fn live_statistics_views_and_random_samples_are_uncacheable() {
    assert_eq!(
        one("SELECT count(*) FROM pg_stat_activity").not_cacheable,
        [NotCacheable::LiveSystemView(table("pg_stat_activity"))]
    );
    assert!(!one("SELECT * FROM pg_catalog.pg_locks").cacheable);
    assert!(one("SELECT * FROM pg_class").cacheable);
    assert_eq!(
        one("SELECT * FROM t TABLESAMPLE SYSTEM (1)").not_cacheable,
        [NotCacheable::RandomSample]
    );
    assert!(one("SELECT * FROM t TABLESAMPLE SYSTEM (1) REPEATABLE (7)").cacheable);
}

#[test]
fn the_volatile_list_matches_names_and_prefixes() {
    assert!(cacheable::is_volatile("now"));
    assert!(cacheable::is_volatile("uuid_generate_v1mc"));
    assert!(cacheable::is_volatile("pg_advisory_unlock_all"));
    assert!(!cacheable::is_volatile("nowhere"));
    assert!(!cacheable::is_volatile("lower"));
}

// Predicates.

#[test]
fn equality_covers_eq_in_any_subqueries_and_boolean_columns() {
    let t = usage(
        "SELECT 1 FROM t WHERE a = 1 AND 2 = b AND c IN (1, 2) AND d = ANY($1) \
         AND e IN (SELECT x FROM u) AND f AND NOT g AND h = $2::int AND i = (SELECT max(y) FROM u)",
        "t",
    );
    assert_eq!(
        columns(&t.equality),
        ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
    );
    assert_eq!(t.range, []);
}

#[test]
fn negations_and_other_operators_are_not_equalities() {
    let t = usage(
        "SELECT 1 FROM t WHERE NOT (a = 1) AND b <> 2 AND c NOT IN (1, 2) AND d IS DISTINCT FROM 3 \
         AND NOT (e = ANY($1)) AND f != ALL($2) AND $3 = ANY(tags) AND g ~ '^x' AND h NOT LIKE 'a%'",
        "t",
    );
    assert_eq!(t.equality, []);
    assert_eq!(t.like, []);
    assert_eq!(t.array, []);
    assert_eq!(constants(&t), ["b <> 2"]);
}

#[test]
fn range_covers_comparisons_between_and_row_values() {
    let t = usage(
        "SELECT 1 FROM t WHERE a < 1 AND b <= $1 AND 3 > c AND d >= now() - interval '1 day' \
         AND e BETWEEN 1 AND 5 AND f BETWEEN SYMMETRIC 5 AND 1 AND (g, h) < ($2, $3) \
         AND i NOT BETWEEN 1 AND 2",
        "t",
    );
    assert_eq!(columns(&t.range), ["a", "b", "c", "d", "e", "f", "g", "h"]);
    assert_eq!(constants(&t), ["a < 1", "c < 3"]);
}

#[test]
fn null_tests_are_recorded_with_their_sense() {
    let t = usage("SELECT 1 FROM t WHERE a IS NULL AND b IS NOT NULL", "t");
    assert_eq!(
        t.null_tests,
        [
            NullTestPredicate {
                column: "a".to_string(),
                test: NullTest::IsNull,
                under_or: false
            },
            NullTestPredicate {
                column: "b".to_string(),
                test: NullTest::IsNotNull,
                under_or: false
            },
        ]
    );
}

#[test]
fn like_patterns_are_classified() {
    let t = usage(
        "SELECT 1 FROM t WHERE a LIKE 'abc%' AND b LIKE '%abc' AND c ILIKE '%abc%' AND d LIKE $1 \
         AND e LIKE 'exact' AND f::text LIKE 'x_%' AND g ILIKE '%' || $2 || '%' AND h LIKE 'a%' ESCAPE '!'",
        "t",
    );
    let kinds: Vec<(&str, bool, PatternKind)> = t
        .like
        .iter()
        .map(|l| (l.column.as_str(), l.case_insensitive, l.pattern))
        .collect();
    assert_eq!(
        kinds,
        [
            ("a", false, PatternKind::Prefix),
            ("b", false, PatternKind::LeadingWildcard),
            ("c", true, PatternKind::LeadingWildcard),
            ("d", false, PatternKind::Unknown),
            ("e", false, PatternKind::Exact),
            ("f", false, PatternKind::Prefix),
            ("g", true, PatternKind::Unknown),
            ("h", false, PatternKind::Unknown),
        ]
    );
}

#[test]
fn full_text_matches_name_the_document_columns() {
    let t = usage(
        "SELECT 1 FROM docs d WHERE to_tsvector('english', d.title || ' ' || d.body) @@ plainto_tsquery($1) \
         AND websearch_to_tsquery($2) @@ d.search_vector",
        "docs",
    );
    assert_eq!(
        t.full_text,
        [
            FullTextPredicate {
                columns: vec!["title".to_string(), "body".to_string()],
                expression: "to_tsvector('english', (title || ' ') || body)".to_string(),
                under_or: false
            },
            FullTextPredicate {
                columns: vec!["search_vector".to_string()],
                expression: "search_vector".to_string(),
                under_or: false
            },
        ]
    );
}

#[test]
fn containment_operators_put_the_column_on_the_left() {
    let t = usage(
        "SELECT 1 FROM t WHERE a @> ARRAY['x'] AND b <@ $1 AND c && '{1}' AND '{y}' <@ d AND $2 @> e",
        "t",
    );
    let operators: Vec<(&str, ArrayOperator)> = t
        .array
        .iter()
        .map(|a| (a.column.as_str(), a.operator))
        .collect();
    assert_eq!(
        operators,
        [
            ("a", ArrayOperator::Contains),
            ("b", ArrayOperator::ContainedBy),
            ("c", ArrayOperator::Overlaps),
            ("d", ArrayOperator::Contains),
            ("e", ArrayOperator::ContainedBy),
        ]
    );
}

#[test]
fn expressions_on_columns_are_written_without_the_alias() {
    let t = usage(
        "SELECT 1 FROM users u WHERE lower(u.email) = $1 AND date(u.created_at) > '2024-01-01' \
         AND (u.payload ->> 'kind') IN ('a', 'b') AND upper(u.name::text) LIKE 'A%'",
        "users",
    );
    assert_eq!(
        t.expressions,
        [
            ExpressionPredicate {
                expression: "lower(email)".to_string(),
                function: Some("lower".to_string()),
                columns: vec!["email".to_string()],
                operator: "=".to_string(),
                under_or: false
            },
            ExpressionPredicate {
                expression: "date(created_at)".to_string(),
                function: Some("date".to_string()),
                columns: vec!["created_at".to_string()],
                operator: ">".to_string(),
                under_or: false
            },
            ExpressionPredicate {
                expression: "payload ->> 'kind'".to_string(),
                function: None,
                columns: vec!["payload".to_string()],
                operator: "IN".to_string(),
                under_or: false
            },
            ExpressionPredicate {
                expression: "upper(name::text)".to_string(),
                function: Some("upper".to_string()),
                columns: vec!["name".to_string()],
                operator: "LIKE".to_string(),
                under_or: false
            },
        ]
    );
    assert_eq!(t.equality, []);
}

#[test]
fn expressions_no_index_could_hold_are_not_reported() {
    // A volatile function, a column of another table, a subquery's renamed or computed column.
    let analysis = one(
        "SELECT 1 FROM t JOIN (SELECT a AS renamed, count(*) AS n FROM u GROUP BY a) s ON true \
         WHERE now() - t.at > interval '1 hour' AND t.x + s.n > 3 AND lower(s.renamed) = 'x'",
    );
    assert!(
        analysis.tables.iter().all(|t| t.expressions.is_empty()),
        "{analysis:#?}"
    );
}

#[test]
fn join_pairs_come_from_on_where_and_using() {
    let analysis = one(
        "SELECT 1 FROM orders o JOIN customers c ON c.id = o.customer_id \
         JOIN shipments USING (order_ref), regions r WHERE r.id = c.region_id",
    );
    let pairs = |name: &str| -> Vec<String> {
        let usage = analysis
            .tables
            .iter()
            .find(|t| t.table.name == name)
            .expect("table");
        usage
            .joins
            .iter()
            .map(|j| format!("{} = {}.{}", j.column, j.other_table, j.other_column))
            .collect()
    };
    assert_eq!(pairs("orders"), ["customer_id = customers.id"]);
    assert_eq!(
        pairs("customers"),
        ["id = orders.customer_id", "region_id = regions.id"]
    );
    assert_eq!(pairs("regions"), ["id = customers.region_id"]);
    // USING's left side is a join of two tables: which has the column needs the catalog.
    assert_eq!(pairs("shipments"), Vec::<String>::new());
    assert_eq!(unresolved(&analysis), [("order_ref", ColumnUsage::Join)]);

    let using = one("SELECT 1 FROM a JOIN b USING (k)");
    assert_eq!(
        using.tables[0].joins,
        [JoinPair {
            column: "k".to_string(),
            other_table: table("b"),
            other_column: "k".to_string(),
            under_or: false
        }]
    );
}

#[test]
fn predicates_under_or_are_marked() {
    let t = usage(
        "SELECT 1 FROM t WHERE a = 1 AND (b = 2 OR (c > 3 AND d IS NULL))",
        "t",
    );
    assert_eq!(
        t.equality,
        [
            ColumnPredicate::new("a"),
            ColumnPredicate {
                column: "b".to_string(),
                under_or: true
            }
        ]
    );
    assert!(t.range[0].under_or);
    assert!(t.null_tests[0].under_or);
    assert_eq!(constants(&t), ["a = 1", "b = 2", "c > 3", "d IS NULL"]);
    assert!(t.constants[1..].iter().all(|c| c.under_or));
}

#[test]
fn subqueries_under_not_still_report_their_own_predicates() {
    let analysis = one(
        "SELECT 1 FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.a_id = a.id AND b.kind = 'x') \
         AND a.id NOT IN (SELECT a_id FROM c WHERE c.flag)",
    );
    let b = &analysis.tables[1];
    assert_eq!(columns(&b.equality), ["kind"]);
    assert_eq!(b.joins[0].other_table, table("a"));
    let c = &analysis.tables[2];
    assert_eq!(columns(&c.equality), ["flag"]);
    assert_eq!(analysis.tables[0].equality, []);
}

#[test]
fn having_counts_plain_columns_only() {
    let t = usage(
        "SELECT region, count(*) FROM sales GROUP BY region HAVING region <> 'x' AND count(id) > 10 \
         AND sum(amount) > 5",
        "sales",
    );
    assert_eq!(t.expressions, []);
    assert_eq!(constants(&t), ["region <> 'x'"]);
}

// Resolution.

#[test]
fn aliases_resolve_to_their_tables() {
    let analysis =
        one("SELECT u.email FROM users u JOIN orgs AS o ON o.id = u.org_id WHERE u.active");
    assert_eq!(analysis.tables[0].alias.as_deref(), Some("u"));
    assert_eq!(analysis.tables[0].outputs, [column("email")]);
    assert_eq!(columns(&analysis.tables[0].equality), ["active"]);
    assert_eq!(analysis.unresolved, []);
}

#[test]
fn schema_qualified_column_references_resolve() {
    let analysis = one(
        r#"SELECT "public"."User"."id" FROM "public"."User" WHERE "public"."User"."email" = $1 AND chatbot.users.id = 1"#,
    );
    assert_eq!(
        analysis.tables[0].table,
        TableName::qualified("public", "User")
    );
    assert_eq!(columns(&analysis.tables[0].equality), ["email"]);
    // `chatbot.users` names nothing in scope.
    assert_eq!(
        unresolved(&analysis),
        [("chatbot.users.id", ColumnUsage::Equality)]
    );
}

#[test]
fn quoted_names_keep_their_case_and_unquoted_ones_are_lowercased() {
    let t = usage(
        r#"SELECT "userId", Email FROM "Accounts" WHERE "Status" = 'A'"#,
        "Accounts",
    );
    assert_eq!(t.outputs, [column("userId"), column("email")]);
    assert_eq!(columns(&t.equality), ["Status"]);
}

#[test]
fn cte_and_subquery_columns_map_back_to_their_tables() {
    let analysis = one(
        "WITH active AS (SELECT id, email AS mail, count(*) AS n FROM users WHERE active GROUP BY id, email) \
         SELECT * FROM active a JOIN (SELECT user_id AS uid FROM orders) o ON o.uid = a.id \
         WHERE a.mail = $1 AND a.n > 3 ORDER BY a.mail",
    );
    let users = &analysis.tables[0];
    assert_eq!(users.table, table("users"));
    assert_eq!(columns(&users.equality), ["active", "email"]);
    assert_eq!(users.range, [], "n is computed");
    assert_eq!(users.order_by, [OrderColumn::asc("email")]);
    assert_eq!(users.joins[0].other_table, table("orders"));
    assert_eq!(analysis.tables[1].joins[0].other_column, "id");
    assert_eq!(analysis.unresolved, []);
}

#[test]
fn a_cte_shadows_a_table_of_the_same_name_except_in_its_own_body() {
    let analysis = one("WITH users AS (SELECT * FROM users WHERE active) SELECT id FROM users");
    assert_eq!(analysis.reads, [table("users")]);
    assert_eq!(analysis.tables.len(), 1);
    // The outer `id` passes through the CTE's `*` to the table.
    assert_eq!(
        analysis.tables[0].outputs,
        [OutputColumn::AllColumns, column("id")]
    );
}

#[test]
fn recursive_ctes_see_themselves() {
    let analysis = one(
        "WITH RECURSIVE tree(id, parent) AS (SELECT id, parent_id FROM nodes WHERE id = $1 \
         UNION ALL SELECT n.id, n.parent_id FROM nodes n JOIN tree t ON n.parent_id = t.id) \
         SELECT id FROM tree",
    );
    assert_eq!(analysis.reads, [table("nodes")]);
    assert_eq!(columns(&analysis.tables[0].equality), ["id"]);
    assert_eq!(columns(&analysis.tables[1].equality), ["parent_id"]);
    assert_eq!(analysis.unresolved, []);
}

#[test]
fn correlated_references_resolve_to_the_outer_table() {
    let analysis = one(
        "SELECT c.id, (SELECT max(m.at) FROM messages m WHERE m.conversation_id = c.id) \
         FROM conversations c",
    );
    let messages = &analysis.tables[1];
    assert_eq!(messages.joins[0].other_table, table("conversations"));
    assert_eq!(messages.outputs, [column("at")]);
}

#[test]
fn an_unqualified_column_needs_exactly_one_candidate_table() {
    let single = one("SELECT a FROM t WHERE b = 1 ORDER BY c");
    assert_eq!(single.unresolved, []);

    let two = one("SELECT a FROM t, u WHERE b = 1 AND t.c = d ORDER BY e");
    assert_eq!(
        unresolved(&two),
        [
            ("b", ColumnUsage::Equality),
            ("d", ColumnUsage::Join),
            ("a", ColumnUsage::Output),
            ("e", ColumnUsage::OrderBy)
        ]
    );
    assert!(two
        .tables
        .iter()
        .all(|t| t.equality.is_empty() && t.joins.is_empty()));

    // A subquery sees the outer table too: `x` could be either's.
    let correlated = one("SELECT 1 FROM t WHERE EXISTS (SELECT 1 FROM u WHERE x = 1)");
    assert_eq!(unresolved(&correlated), [("x", ColumnUsage::Equality)]);

    // Unless both are the same table: then the inner one has the column if the outer has it.
    let same =
        one("UPDATE jobs SET a = 1 WHERE id = (SELECT id FROM jobs WHERE queue = $1 LIMIT 1)");
    assert_eq!(same.unresolved, []);
    assert_eq!(columns(&same.tables[1].equality), ["queue"]);
}

#[test]
fn subquery_output_lists_decide_unqualified_columns() {
    // `n` is known to be the subquery's, and `a` cannot be: only `t` may have it.
    let analysis = one("SELECT a, n FROM t, (SELECT count(*) AS n FROM u) s WHERE a = 1 AND n > 2");
    assert_eq!(analysis.unresolved, []);
    assert_eq!(columns(&analysis.tables[0].equality), ["a"]);
}

#[test]
fn a_set_operation_star_may_hide_any_column() {
    let analysis =
        one("SELECT foo FROM t, (SELECT * FROM a UNION SELECT * FROM b) x WHERE foo = 1");
    assert_eq!(
        unresolved(&analysis),
        [("foo", ColumnUsage::Equality), ("foo", ColumnUsage::Output)]
    );
}

#[test]
fn a_from_subquery_sees_its_siblings_only_when_lateral() {
    let lateral = one("SELECT 1 FROM t, LATERAL (SELECT * FROM u WHERE u.t_id = t.id) s");
    assert_eq!(lateral.tables[1].joins[0].other_table, table("t"));

    // Without LATERAL, `t` is out of sight, so `x` can only be `u`'s.
    let plain = one("SELECT 1 FROM t, (SELECT * FROM u WHERE x = 1) s");
    assert_eq!(plain.unresolved, []);
    assert_eq!(columns(&plain.tables[1].equality), ["x"]);
}

#[test]
fn function_columns_belong_to_no_table() {
    let analysis = one(
        "SELECT g, t.a FROM generate_series(1, 3) AS g, t, unnest($1::int[]) WITH ORDINALITY AS u(v, n) \
         WHERE t.b = u.v AND g > 1",
    );
    assert_eq!(analysis.unresolved, []);
    assert_eq!(columns(&analysis.tables[0].equality), ["b"]);
    assert_eq!(analysis.tables[0].outputs, [column("a")]);
}

// Sorting, grouping, outputs.

#[test]
fn order_by_keeps_direction_nulls_and_resolves_positions_and_output_names() {
    let t = usage(
        "SELECT id, created_at AS c, score * 2 AS s FROM t \
         ORDER BY 2 DESC NULLS LAST, s, id ASC NULLS FIRST, lower(name), random(), name USING >",
        "t",
    );
    assert_eq!(
        t.order_by,
        [
            OrderColumn {
                nulls: NullsOrder::Last,
                ..OrderColumn::desc("created_at")
            },
            OrderColumn {
                nulls: NullsOrder::First,
                ..OrderColumn::asc("id")
            },
            OrderColumn::desc("name"),
        ]
    );
}

#[test]
fn group_by_reads_names_as_input_columns_first() {
    let t = usage(
        "SELECT a AS b, count(*) AS n, date_trunc('day', at) AS day FROM t \
         GROUP BY b, 1, day, ROLLUP (c, (d, e)), CUBE (f), GROUPING SETS ((g), ())",
        "t",
    );
    assert_eq!(t.group_by, ["a", "c", "d", "e", "f", "g"]);
    // `b` and `day` name outputs, and may name columns of `t` too, which would win.
    let analysis = one("SELECT a AS b, date_trunc('day', at) AS day, x FROM t GROUP BY b, day, x");
    assert_eq!(
        unresolved(&analysis),
        [("b", ColumnUsage::GroupBy), ("day", ColumnUsage::GroupBy)]
    );
    assert_eq!(analysis.tables[0].group_by, ["x"]);
    let derived = one("SELECT date_trunc('day', at) AS day FROM (SELECT at FROM t) s GROUP BY day");
    assert_eq!(derived.unresolved, [], "only the output can be `day`");
}

#[test]
fn outputs_include_every_column_the_target_list_reads() {
    let t = usage(
        "SELECT id, upper(name) AS n, sum(amount) FILTER (WHERE paid), \
         row_number() OVER (PARTITION BY region ORDER BY at), (SELECT 1 FROM u WHERE u.x = t.y) FROM t",
        "t",
    );
    assert_eq!(
        t.outputs,
        ["id", "name", "amount", "paid", "region", "at"].map(column)
    );
}

#[test]
fn stars_output_all_columns_and_a_star_over_a_join_is_unresolved() {
    assert_eq!(
        usage("SELECT * FROM t", "t").outputs,
        [OutputColumn::AllColumns]
    );
    assert_eq!(
        usage("SELECT t.*, 1 FROM t", "t").outputs,
        [OutputColumn::AllColumns]
    );

    let join = one("SELECT * FROM a JOIN b ON a.id = b.a_id");
    assert!(join
        .tables
        .iter()
        .all(|t| t.outputs == [OutputColumn::AllColumns]));
    assert_eq!(unresolved(&join), [("*", ColumnUsage::Output)]);

    let qualified = one("SELECT a.* FROM a JOIN b ON a.id = b.a_id");
    assert_eq!(qualified.tables[1].outputs, []);
    assert_eq!(qualified.unresolved, []);
}

#[test]
fn exists_subqueries_output_nothing_and_returning_lists_do() {
    let exists = one("SELECT EXISTS (SELECT * FROM t WHERE a = 1)");
    assert_eq!(exists.tables[0].outputs, []);
    let returning = usage("UPDATE t SET a = 1 WHERE id = 2 RETURNING id, a", "t");
    assert_eq!(returning.outputs, [column("id"), column("a")]);
    assert_eq!(
        usage("INSERT INTO t VALUES (1) RETURNING *", "t").outputs,
        [OutputColumn::AllColumns]
    );
}

// Constant predicates.

#[test]
fn constants_keep_the_literal_as_written() {
    let t = usage(
        "SELECT 1 FROM t WHERE status = 'active' AND archived = false AND deleted_at IS NULL \
         AND kind IN ('a', 'b') AND at >= '2024-01-01'::date AND n = -5 AND flag AND NOT hidden \
         AND big = 1_000_000 AND uid = $1 AND checked IS TRUE AND tags = ANY('{x,y}')",
        "t",
    );
    assert_eq!(
        constants(&t),
        [
            "status = 'active'",
            "archived = false",
            "deleted_at IS NULL",
            "kind IN ('a', 'b')",
            "at >= '2024-01-01'::date",
            "n = -5",
            "flag = true",
            "hidden = false",
            "big = 1000000",
            "checked IS TRUE",
            "tags = ANY ('{x,y}')",
        ]
    );
}

// LIMIT and OFFSET.

#[test]
fn limit_and_offset_take_constants_parameters_or_other() {
    let bounds = |sql: &str| {
        let analysis = one(sql);
        (analysis.limit, analysis.offset)
    };
    assert_eq!(
        bounds("SELECT 1 LIMIT 10 OFFSET 20"),
        (Some(Bound::Constant(10)), Some(Bound::Constant(20)))
    );
    assert_eq!(
        bounds("SELECT 1 LIMIT $2::INTEGER OFFSET $3"),
        (Some(Bound::Parameter(2)), Some(Bound::Parameter(3)))
    );
    assert_eq!(bounds("SELECT 1 LIMIT ALL"), (None, None));
    assert_eq!(
        bounds("SELECT a FROM t ORDER BY a OFFSET 5 ROWS FETCH FIRST 3 ROWS WITH TIES"),
        (Some(Bound::Constant(3)), Some(Bound::Constant(5)))
    );
    assert_eq!(
        bounds("SELECT 1 LIMIT 10000000000"),
        (Some(Bound::Constant(10_000_000_000)), None)
    );
    assert_eq!(
        bounds("SELECT 1 LIMIT $1 * 2 OFFSET (SELECT 1)"),
        (Some(Bound::Other), Some(Bound::Other))
    );
    assert_eq!(
        bounds("(SELECT 1) UNION (SELECT 2) LIMIT 3"),
        (Some(Bound::Constant(3)), None)
    );
    assert_eq!(
        bounds("SELECT * FROM (SELECT * FROM t LIMIT 5) s"),
        (None, None)
    );
}

#[test]
fn called_functions_are_listed_for_a_catalog_lookup() {
    let select = one(
        "SELECT lower(name), (SELECT count(*) FROM orders o WHERE o.uid = u.id) \
         FROM users u, my_schema.expand(u.tags) WHERE u.id = abs($1)",
    );
    assert_eq!(select.functions, ["expand", "abs", "lower", "count"]);
    assert!(select.cacheable, "the catalog decides what these do");
    assert!(one("SELECT id FROM users WHERE id = $1")
        .functions
        .is_empty());
}
