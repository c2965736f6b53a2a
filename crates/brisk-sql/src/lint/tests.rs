use super::*;

fn rules(sql: &str) -> Vec<Rule> {
    lint(sql, &[]).issues.iter().map(|i| i.rule).collect()
}

fn only(sql: &str, rule: Rule) -> LintIssue {
    let outcome = lint(sql, &[]);
    let found: Vec<&LintIssue> = outcome.issues.iter().filter(|i| i.rule == rule).collect();
    assert_eq!(found.len(), 1, "{sql}: {:#?}", outcome.issues);
    found[0].clone()
}

#[test]
fn clean_sql_has_no_issues() {
    let clean = "SELECT id, email FROM users WHERE id = $1;
                 UPDATE users SET email = $2 WHERE id = $1;
                 DELETE FROM sessions WHERE expires_at < now();
                 SELECT id FROM posts WHERE user_id = $1 ORDER BY id LIMIT 20 OFFSET 40;
                 SELECT EXISTS (SELECT 1 FROM posts WHERE user_id = $1);
                 SELECT * FROM users u WHERE EXISTS (SELECT * FROM posts p WHERE p.user_id = u.id) LIMIT 0;
                 INSERT INTO t (a) VALUES (1);
                 SELECT name FROM users WHERE name LIKE 'ann%';
                 SELECT id FROM users WHERE a = 1 OR a = 2;";
    let outcome = lint(clean, &[]);
    let unexpected: Vec<_> = outcome
        .issues
        .iter()
        .filter(|i| i.rule != Rule::SelectStar)
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert_eq!(outcome.statements, 9);
    assert!(outcome.errors.is_empty());
}

#[test]
fn select_star_is_found_at_the_outer_level_only() {
    assert_eq!(rules("SELECT * FROM users"), [Rule::SelectStar]);
    assert_eq!(rules("SELECT u.* FROM users u"), [Rule::SelectStar]);
    assert!(rules("SELECT id FROM users WHERE EXISTS (SELECT * FROM posts)").is_empty());
    assert!(rules("SELECT count(*) FROM users").is_empty());
}

#[test]
fn writes_without_where_are_critical() {
    let issue = only("DELETE FROM sessions", Rule::WriteWithoutWhere);
    assert_eq!(issue.severity, LintSeverity::Critical);
    assert!(issue.detail.contains("TRUNCATE sessions"));
    only("UPDATE users SET active = false", Rule::WriteWithoutWhere);
}

#[test]
fn large_offsets_get_a_keyset_rewrite() {
    let issue = only(
        "SELECT id, title FROM conversations WHERE user_id = $1 ORDER BY updated_at DESC, id DESC LIMIT 20 OFFSET 5000",
        Rule::LargeOffset,
    );
    assert_eq!(
        issue.rewrite.as_deref(),
        Some("SELECT id, title FROM conversations WHERE user_id = $1 AND (updated_at, id) < ($2, $3) ORDER BY updated_at DESC, id DESC LIMIT 20")
    );
    let param = only(
        "SELECT id FROM t ORDER BY id LIMIT 10 OFFSET $1",
        Rule::LargeOffset,
    );
    assert_eq!(
        param.rewrite.as_deref(),
        Some("SELECT id FROM t WHERE id > $2 ORDER BY id LIMIT 10")
    );
    // Mixed directions cannot be one row comparison: advice without a rewrite.
    let mixed = only(
        "SELECT id FROM t ORDER BY a DESC, b ASC OFFSET 2000",
        Rule::LargeOffset,
    );
    assert!(mixed.rewrite.is_none());
    assert!(rules("SELECT id FROM t ORDER BY id OFFSET 999").is_empty());
}

#[test]
fn leading_wildcards_get_a_trigram_index() {
    let issue = only(
        "SELECT id FROM conversations c WHERE c.title ILIKE '%budget%'",
        Rule::LeadingWildcardLike,
    );
    assert_eq!(
        issue.rewrite.as_deref(),
        Some("CREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS conversations_title_trgm_idx ON conversations USING gin (title gin_trgm_ops);")
    );
    only(
        "SELECT id FROM t WHERE name NOT LIKE '_x'",
        Rule::LeadingWildcardLike,
    );
    assert!(rules("SELECT id FROM t WHERE name LIKE 'x%'").is_empty());
}

#[test]
fn functions_on_filtered_columns_get_an_expression_index() {
    let issue = only(
        "SELECT id FROM public.users WHERE lower(email) = $1",
        Rule::FunctionOnColumn,
    );
    assert_eq!(
        issue.rewrite.as_deref(),
        Some("CREATE INDEX CONCURRENTLY IF NOT EXISTS users_lower_email_idx ON public.users ((lower(email)));")
    );
    let date = only(
        "SELECT id FROM events WHERE created_at::date = '2026-01-01'",
        Rule::FunctionOnColumn,
    );
    assert!(date.detail.contains("range"));
    // Joins and aggregates are not filters on a column's value.
    assert!(rules("SELECT a.id FROM a JOIN b ON lower(a.x) = lower(b.x)").is_empty());
    assert!(rules("SELECT id FROM t GROUP BY id HAVING count(id) > 5").is_empty());
}

/// The rules see every expression the analysis sees: a filter inside a boolean test, a
/// CASE, next to a JSON constructor or in an aggregate's FILTER is still a filter.
#[test]
fn rules_reach_into_every_kind_of_expression() {
    for sql in [
        "SELECT id FROM users WHERE (lower(email) = $1) IS TRUE",
        "SELECT id FROM users WHERE CASE WHEN $2 THEN lower(email) = $1 END",
        "SELECT id FROM users WHERE json_build_object('a', 1) IS NOT NULL AND lower(email) = $1",
    ] {
        assert_eq!(rules(sql), [Rule::FunctionOnColumn], "{sql}");
    }
    let sql = "SELECT count(*) FILTER (WHERE lower(email) = $1) FROM users";
    assert_eq!(rules(sql), [Rule::FunctionOnColumn], "{sql}");
}

#[test]
fn not_in_subquery_becomes_not_exists() {
    let issue = only(
        "SELECT id FROM users WHERE id NOT IN (SELECT user_id FROM bans WHERE active)",
        Rule::NotInSubquery,
    );
    assert_eq!(
        issue.rewrite.as_deref(),
        Some("-- in place of the NOT IN condition:\nNOT EXISTS (SELECT 1 FROM bans WHERE active AND user_id = id)")
    );
    assert!(rules("SELECT id FROM users WHERE id NOT IN (1, 2)").is_empty());
}

#[test]
fn or_across_different_columns_is_found() {
    let issue = only(
        "SELECT id FROM users WHERE email = $1 OR username = $1",
        Rule::OrAcrossColumns,
    );
    assert!(issue.message.contains("email, username"));
    assert!(rules("SELECT id FROM users WHERE status = 'a' OR status = 'b'").is_empty());
}

#[test]
fn repeated_single_row_inserts_become_one() {
    let script = "INSERT INTO audit (actor, action) VALUES (1, 'login');
                  INSERT INTO audit (actor, action) VALUES (2, 'logout');
                  INSERT INTO audit (actor, action) VALUES (3, 'login');";
    let issue = only(script, Rule::SingleRowInsert);
    assert_eq!(issue.offset, 0);
    assert_eq!(
        issue.rewrite.as_deref(),
        Some("INSERT INTO audit (actor, action) VALUES (1, 'login'), (2, 'logout'), (3, 'login')")
    );
    // Two are normal; three of the same shape are a pattern.
    let two = "INSERT INTO audit (actor) VALUES (1); INSERT INTO audit (actor) VALUES (2);";
    assert!(rules(two).is_empty());
}

#[test]
fn count_used_as_existence_becomes_exists() {
    let issue = only(
        "SELECT count(*) > 0 FROM orders WHERE user_id = $1",
        Rule::CountForExistence,
    );
    assert_eq!(
        issue.rewrite.as_deref(),
        Some("SELECT EXISTS (SELECT 1 FROM orders WHERE user_id = $1)")
    );
    let sub = only(
        "SELECT id FROM users u WHERE (SELECT count(*) FROM orders o WHERE o.user_id = u.id) = 0",
        Rule::CountForExistence,
    );
    assert_eq!(
        sub.rewrite.as_deref(),
        Some("-- in place of the count comparison:\nNOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)")
    );
    assert!(rules("SELECT count(*) FROM orders WHERE user_id = $1").is_empty());
}

#[test]
fn invalid_statements_are_errors_with_a_position_and_the_rest_is_linted() {
    let script = "SELECT * FROM users;\nSELEC id FROM t;\nDELETE FROM t;";
    let outcome = lint(script, &[]);
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].offset, script.find("SELEC id").unwrap());
    assert!(outcome.errors[0].message.contains("syntax error"));
    let found: Vec<Rule> = outcome.issues.iter().map(|i| i.rule).collect();
    assert_eq!(found, [Rule::SelectStar, Rule::WriteWithoutWhere]);
}

#[test]
fn rules_can_be_switched_off() {
    assert!(lint("SELECT * FROM t", &[Rule::SelectStar])
        .issues
        .is_empty());
    assert_eq!(Rule::from_id("select_star"), Some(Rule::SelectStar));
    assert_eq!(Rule::from_id("sql.large_offset"), Some(Rule::LargeOffset));
    assert_eq!(Rule::from_id("nope"), None);
}

#[test]
fn no_input_makes_it_panic() {
    for sql in [
        "",
        ";",
        ";;",
        "-- only a comment",
        "SELECT",
        "'unterminated",
        "\0",
    ] {
        let _ = lint(sql, &[]);
    }
}
