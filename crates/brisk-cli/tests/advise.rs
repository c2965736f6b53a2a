//! `brisk advise` on a real PostgreSQL with HypoPG: plant a small chat backend, hand brisk a
//! workload, look at the recommendations; and prove that it writes nothing unless asked.

mod common;

use std::path::Path;

use common::{advise, brisk, evidence, findings, recommended, Db};
use serde_json::Value;

/// A chat backend: most conversations archived, a hundred messages in each of the first
/// thousand conversations, message bodies with words to search, and tags.
const CHAT_SCHEMA: &str = "
    CREATE TABLE users (
        id bigserial PRIMARY KEY, email text NOT NULL, is_active boolean NOT NULL,
        created_at timestamptz NOT NULL);
    CREATE TABLE conversations (
        id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users,
        title text NOT NULL, is_archived boolean NOT NULL, updated_at timestamptz NOT NULL);
    CREATE TABLE messages (
        id bigserial PRIMARY KEY, conversation_id bigint NOT NULL REFERENCES conversations,
        role text NOT NULL, content text NOT NULL, created_at timestamptz NOT NULL,
        tags text[] NOT NULL DEFAULT '{}');
    INSERT INTO users (email, is_active, created_at)
        SELECT 'user' || g || '@example.com', g % 10 = 0, now() - g * interval '1 hour'
        FROM generate_series(1, 2000) g;
    INSERT INTO conversations (user_id, title, is_archived, updated_at)
        SELECT 1 + (g * g) % 2000, 'chat about ' || md5(g::text), g % 5 <> 0,
               now() - g * interval '1 minute'
        FROM generate_series(1, 20000) g;
    INSERT INTO messages (conversation_id, role, content, created_at, tags)
        SELECT 1 + (g * 7919) % 1000, CASE WHEN g % 2 = 0 THEN 'user' ELSE 'assistant' END,
               'message ' || md5(g::text) || ' about ' ||
                   (ARRAY['postgres', 'redis', 'python', 'billing', 'travel'])[1 + g % 5],
               now() - (100000 - g) * interval '1 second',
               ARRAY['t' || (g % 40)]
        FROM generate_series(1, 100000) g;
    UPDATE conversations SET title = title || '!' WHERE id % 50 = 0;
    ANALYZE;";

fn chat_db(prefix: &str) -> Db {
    let db = Db::fresh(prefix);
    db.sql(CHAT_SCHEMA);
    db
}

/// A JSON-lines workload: `(query, params, calls, mean_ms)` per line.
fn workload_file(dir: &Path, lines: &[(&str, &[&str], u64, f64)]) -> String {
    let text: String = lines
        .iter()
        .map(|(query, params, calls, mean)| {
            serde_json::json!({"query": query, "params": params, "calls": calls, "mean_ms": mean})
                .to_string()
                + "\n"
        })
        .collect();
    let path = dir.join("workload.jsonl");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn assert_recommends(report: &Value, needle: &str) -> Value {
    let all = findings(report, "advise.index");
    all.iter()
        .find(|f| f["fix"]["apply"].as_str().unwrap_or("").contains(needle))
        .map(|f| (*f).clone())
        .unwrap_or_else(|| {
            panic!(
                "no recommendation with {needle:?}: {:#?}",
                recommended(report)
            )
        })
}

/// Indexes of the public schema, for proving nothing was built.
fn index_names(db: &Db) -> String {
    db.sql("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public';")
}

#[test]
fn a_workload_file_gets_a_composite_index_proven_by_hypopg() {
    let db = chat_db("advise_composite");
    let dir = tempfile::tempdir().unwrap();
    let workload = workload_file(
        dir.path(),
        &[
            (
                "SELECT id, role, content FROM messages WHERE conversation_id = $1 ORDER BY created_at DESC LIMIT 20",
                &["17"],
                5000,
                9.0,
            ),
            (
                "SELECT id, role, content FROM messages WHERE conversation_id = $1 ORDER BY created_at DESC LIMIT 20",
                &["4242"],
                1,
                9.0,
            ),
            ("SELECT id, email FROM users WHERE id = $1", &["5"], 9000, 0.05),
        ],
    );
    let before = index_names(&db);
    let report = advise(&db.url(), &["--workload", &workload]);
    let index = assert_recommends(
        &report,
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_conversation_id_created_at_desc",
    );
    assert_eq!(index["subject"], "public.messages");
    assert!(index["fix"]["apply"]
        .as_str()
        .unwrap()
        .contains("ON public.messages USING btree (conversation_id, created_at DESC)"));
    assert!(index["fix"]["rollback"].as_str().unwrap().starts_with(
        "DROP INDEX CONCURRENTLY IF EXISTS public.messages_conversation_id_created_at_desc"
    ));
    assert!(index["title"].as_str().unwrap().ends_with("(estimate)"));
    let before_cost = evidence(&index, "query 1 cost before (planner units)");
    let after_cost = evidence(&index, "query 1 cost after (planner units)");
    assert!(
        after_cost < before_cost / 10.0,
        "{before_cost} -> {after_cost}"
    );
    assert!(evidence(&index, "index size") > 0.0);
    assert!(evidence(&index, "workload time saved") > 0.0);
    assert!(
        index["impact"]["measured"].is_null(),
        "nothing was measured"
    );
    assert!(index["detail"]
        .as_str()
        .unwrap()
        .contains("Seq Scan on messages"));
    // The primary key serves the user lookup: nothing for users.
    assert!(recommended(&report)
        .iter()
        .all(|sql| !sql.contains("public.users")));

    let summary = &findings(&report, "advise.workload")[0];
    assert_eq!(evidence(summary, "queries planned"), 2.0);
    assert!(evidence(summary, "what-if EXPLAIN calls") >= 2.0);
    assert!(evidence(summary, "workload time change") < -50.0);
    assert_eq!(index_names(&db), before, "advise built nothing");
}

#[test]
fn advise_writes_nothing_as_a_read_only_monitoring_role() {
    let db = chat_db("advise_readonly");
    db.sql(&format!(
        "CREATE ROLE advisor LOGIN PASSWORD 'advise-me';
         GRANT pg_monitor TO advisor;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO advisor;
         ALTER ROLE advisor SET default_transaction_read_only = on;
         ALTER DATABASE {} OWNER TO postgres;
         SELECT pg_stat_statements_reset();",
        db.name
    ));
    // The application's traffic, seen by pg_stat_statements with its values replaced.
    let mut traffic = String::new();
    for user in 1..40 {
        traffic.push_str(&format!(
            "SELECT id, title FROM conversations WHERE user_id = {user} AND is_archived = false ORDER BY updated_at DESC LIMIT 20;\n"
        ));
    }
    db.sql(&traffic);
    let catalog =
        || db.sql("SELECT count(*), sum(oid::int8), max(relfilenode::int8) FROM pg_class;");
    let (indexes, before) = (index_names(&db), catalog());
    let url = db.pg.url_for("advisor", "advise-me", &db.name);
    let report = advise(&url, &[]);
    let index = assert_recommends(&report, "ON public.conversations USING btree (user_id");
    assert!(index["fix"]["apply"]
        .as_str()
        .unwrap()
        .contains("updated_at DESC"));
    assert!(report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("planned generically")));
    assert_eq!(index_names(&db), indexes);
    assert_eq!(
        catalog(),
        before,
        "no relation was created, dropped or rewritten"
    );
    // Every statement brisk sent is marked; none of them is a write.
    let writes = db.sql(
        "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '/* brisk */%' \
         AND query ~* '^/\\* brisk \\*/ *(insert|update|delete|create|drop|alter|truncate|vacuum|analyze)';",
    );
    assert_eq!(writes.trim(), "0");
}

#[test]
fn without_hypopg_the_advice_is_ranked_and_labeled_unproven() {
    let db = chat_db("advise_nohypo");
    db.sql("DROP EXTENSION hypopg;");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    std::fs::write(
        &sql,
        "SELECT id, content FROM messages WHERE conversation_id = 12;\n\
         SELECT id, content FROM messages WHERE conversation_id = 99;\n",
    )
    .unwrap();
    let report = advise(&db.url(), &["--workload", sql.to_str().unwrap()]);
    let missing = &findings(&report, "advise.hypopg")[0];
    assert_eq!(missing["severity"], "warning");
    assert!(missing["fix"]["apply"]
        .as_str()
        .unwrap()
        .contains("CREATE EXTENSION hypopg;"));
    let index = assert_recommends(&report, "(conversation_id)");
    assert!(index["title"]
        .as_str()
        .unwrap()
        .contains("unproven estimate"));
    assert!(index["detail"]
        .as_str()
        .unwrap()
        .contains("HypoPG is not available"));
}

#[test]
fn gin_expression_and_partial_candidates_come_from_the_predicates() {
    let db = chat_db("advise_kinds");
    // Updates that are HOT today, and change a column a candidate tests. A HOT update needs
    // room on its page: the load left the pages full, and only a vacuum (autovacuum's, or
    // this one) frees the room the schema's own UPDATE left dead.
    db.sql("VACUUM conversations;");
    db.sql("SELECT pg_stat_reset(); UPDATE conversations SET is_archived = is_archived WHERE id % 10 = 0;");
    db.wait_for_table_stat("conversations", "n_tup_hot_upd", 1);
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    let mut text = String::new();
    for n in 0..20 {
        text.push_str(&format!(
            "SELECT id, title FROM conversations WHERE title ILIKE '%{n:x}abc%';\n\
             SELECT id FROM messages WHERE to_tsvector('english', content) @@ plainto_tsquery('english', 'billing {n}') LIMIT 20;\n\
             SELECT id FROM messages WHERE tags @> ARRAY['t{n}'];\n\
             SELECT id FROM users WHERE lower(email) = 'user{n}@example.com';\n\
             SELECT id, title, updated_at FROM conversations WHERE user_id = {n} AND is_archived = false ORDER BY updated_at DESC LIMIT 20;\n\
             UPDATE conversations SET is_archived = true WHERE id = {n};\n"
        ));
    }
    std::fs::write(&sql, text).unwrap();
    let report = advise(
        &db.url(),
        &[
            "--workload",
            sql.to_str().unwrap(),
            "--min-benefit-pct",
            "0.1",
        ],
    );
    let trigram = assert_recommends(&report, "USING gin (title gin_trgm_ops)");
    assert!(trigram["fix"]["apply"]
        .as_str()
        .unwrap()
        .starts_with("CREATE EXTENSION IF NOT EXISTS pg_trgm;\n"));
    assert!(trigram["title"]
        .as_str()
        .unwrap()
        .contains("unproven estimate"));
    assert_recommends(&report, "USING gin ((to_tsvector('english', content)))");
    assert_recommends(&report, "USING gin (tags)");
    assert_recommends(&report, "ON public.users USING btree ((lower(email)))");
    let partial = assert_recommends(&report, "WHERE NOT is_archived");
    assert!(partial["fix"]["apply"]
        .as_str()
        .unwrap()
        .contains("(user_id"));
    assert!(
        partial["detail"].as_str().unwrap().contains("HOT warning"),
        "{partial:#}"
    );
    assert!(evidence(&partial, "HOT updates per second that would stop being HOT") > 0.0);
}

#[test]
fn an_index_that_already_serves_the_query_is_not_proposed_again() {
    let db = chat_db("advise_served");
    db.sql("CREATE INDEX messages_by_conversation ON messages (conversation_id, created_at DESC) INCLUDE (role);");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    std::fs::write(
        &sql,
        "SELECT role FROM messages WHERE conversation_id = 5 ORDER BY created_at DESC LIMIT 10;\n",
    )
    .unwrap();
    let report = advise(&db.url(), &["--workload", sql.to_str().unwrap()]);
    assert!(
        recommended(&report).is_empty(),
        "{:#?}",
        recommended(&report)
    );
    let summary = &findings(&report, "advise.workload")[0];
    assert!(summary["title"]
        .as_str()
        .unwrap()
        .contains("no index would save enough"));
}

#[test]
fn queries_that_do_not_parse_are_listed_and_the_rest_is_advised() {
    let db = chat_db("advise_unparsed");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    std::fs::write(
        &sql,
        "SELECT id FROM messages WHERE conversation_id = 5;\n\
         SELEC id FROM messages;\n\
         SELECT id FROM no_such_table WHERE x = 1;\n",
    )
    .unwrap();
    let report = advise(&db.url(), &["--workload", sql.to_str().unwrap()]);
    let skipped = findings(&report, "advise.skipped");
    let origins: Vec<&str> = skipped
        .iter()
        .map(|f| f["subject"].as_str().unwrap())
        .collect();
    assert_eq!(origins, ["line 2"], "{skipped:#?}");
    assert!(skipped[0]["detail"]
        .as_str()
        .unwrap()
        .contains("syntax error"));
    assert_recommends(&report, "(conversation_id)");
    assert!(report["notes"].as_array().unwrap().iter().any(|n| n
        .as_str()
        .unwrap()
        .contains("read no table of this database")));
}

/// Candidates HypoPG refuses: a `box` column has an `=` operator but no btree operator
/// class. The refusal costs that candidate only: the rest of the workload is advised, and
/// the refused index is named with HypoPG's reason. Before the savepoint, the first refusal
/// aborted the whole run.
#[test]
fn a_candidate_hypopg_refuses_is_left_out_and_the_rest_is_advised() {
    let db = chat_db("advise_refused");
    db.sql(
        "CREATE TABLE shapes (id bigserial PRIMARY KEY, b box NOT NULL, name text NOT NULL);
         INSERT INTO shapes (b, name)
             SELECT box(point(g, g), point(g + 1, g + 2)), 'shape ' || g
             FROM generate_series(1, 50000) g;
         ANALYZE shapes;",
    );
    let refused_note = |report: &Value| -> Vec<String> {
        report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n.as_str())
            .filter(|n| n.contains("HypoPG refused it"))
            .map(str::to_string)
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    std::fs::write(
        &sql,
        "SELECT id FROM shapes WHERE b = '(1,1),(0,0)'::box;\n\
         SELECT id FROM shapes WHERE name = 'shape 77';\n\
         SELECT id FROM messages WHERE conversation_id = 5;\n",
    )
    .unwrap();
    let report = advise(&db.url(), &["--workload", sql.to_str().unwrap()]);
    assert_recommends(&report, "(name)");
    assert_recommends(&report, "(conversation_id)");
    let notes = refused_note(&report);
    assert!(
        !notes.is_empty() && notes.iter().all(|n| n.contains("shapes (b")),
        "{notes:#?}"
    );
    assert!(notes[0].contains("operator class"), "{notes:#?}");

    // Absent: a workload HypoPG can simulate whole has no such note.
    std::fs::write(&sql, "SELECT id FROM shapes WHERE name = 'shape 77';\n").unwrap();
    let report = advise(&db.url(), &["--workload", sql.to_str().unwrap()]);
    assert_recommends(&report, "(name)");
    assert!(refused_note(&report).is_empty(), "{:#?}", report["notes"]);
}

#[test]
fn statements_that_do_not_prepare_as_printed_are_planned_and_coverage_heads_the_report() {
    let db = chat_db("advise_coverage");
    let dir = tempfile::tempdir().unwrap();
    // Enough calls that an index on messages saves more than its write overhead, charged
    // for the 100,000 rows the schema just inserted.
    let (calls, mean_ms) = (10_000, 2.0);
    let texts = [
        // A typed literal pg_stat_statements turned into `interval $2`: not SQL as printed.
        "SELECT id FROM messages m WHERE m.conversation_id = $1 AND m.created_at > now() - interval $2",
        // PostgreSQL types $1 as a timestamp; only an interval plans.
        "SELECT id FROM messages WHERE created_at > now() - $1 AND role = $2",
        // unknown + unknown has no single operator; the compared column types the first.
        "SELECT id FROM conversations WHERE updated_at < $1 + $2 AND user_id = $3",
        // No single type for $1: planned with representative values.
        "SELECT id FROM users WHERE id = $1 OR email = $1",
        // Nothing makes this one plan.
        "SELECT id FROM messages WHERE no_such_column = $1",
    ];
    let lines: Vec<(&str, &[&str], u64, f64)> = texts
        .iter()
        .map(|t| (*t, &[][..], calls, mean_ms))
        .collect();
    let workload = workload_file(dir.path(), &lines);
    let report = advise(&db.url(), &["--workload", &workload]);

    let coverage = &report["coverage"];
    assert_eq!(coverage["statements"], texts.len());
    assert_eq!(coverage["planned"], texts.len() - 1);
    let pct = 100.0 * (texts.len() - 1) as f64 / texts.len() as f64;
    assert!(
        (coverage["time_pct"].as_f64().unwrap() - pct).abs() < 1e-9,
        "{coverage}"
    );
    let skipped = findings(&report, "advise.skipped");
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert_eq!(skipped[0]["query"], texts[4]);
    assert!(skipped[0]["detail"]
        .as_str()
        .unwrap()
        .contains("column \"no_such_column\" does not exist"));
    let notes: Vec<&str> = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("3 normalized queries did not prepare as")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("1 normalized queries did not prepare with any typing")),
        "{notes:#?}"
    );
    // The report shows the text as the workload had it, never brisk's rewrite.
    let details: String = findings(&report, "advise.index")
        .iter()
        .map(|f| f["detail"].as_str().unwrap_or(""))
        .collect();
    assert!(details.contains(texts[0]), "{details}");
    assert!(!details.contains("::interval"), "{details}");

    let output = brisk(&["advise", &db.url(), "--workload", &workload]);
    let text = String::from_utf8_lossy(&output.stdout);
    let headline = format!(
        "Planned {} of {} statements, {pct:.1}% of the workload's total time.",
        texts.len() - 1,
        texts.len()
    );
    assert_eq!(text.lines().nth(1), Some(headline.as_str()), "{text}");
}

#[test]
fn write_produces_numbered_migrations_that_say_why_no_transaction() {
    let db = chat_db("advise_write");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    std::fs::write(
        &sql,
        "SELECT id FROM messages WHERE conversation_id = 5;\n\
         SELECT id, title FROM conversations WHERE title ILIKE '%abc%';\n",
    )
    .unwrap();
    let out = dir.path().join("migrations");
    advise(
        &db.url(),
        &[
            "--workload",
            sql.to_str().unwrap(),
            "--write",
            out.to_str().unwrap(),
        ],
    );
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files[0].starts_with("001_") && files[0].ends_with(".down.sql"));
    assert!(files[1].starts_with("001_") && files[1].ends_with(".up.sql"));
    assert!(files[3].starts_with("002_") && files[3].ends_with(".up.sql"));
    for file in &files {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(text.contains("SET lock_timeout = '5s';"), "{file}: {text}");
        assert!(text.contains("No transaction block"), "{file}: {text}");
        assert!(text.contains("CONCURRENTLY"), "{file}: {text}");
    }
    // The migrations run as written, outside a transaction, and their rollbacks undo them.
    for file in files.iter().filter(|f| f.ends_with(".up.sql")) {
        db.sql(&std::fs::read_to_string(out.join(file)).unwrap());
    }
    assert!(index_names(&db).contains("conversations_title_trgm"));
    for file in files.iter().filter(|f| f.ends_with(".down.sql")) {
        db.sql(&std::fs::read_to_string(out.join(file)).unwrap());
    }
    assert!(!index_names(&db).contains("trgm"));
}

#[test]
fn verify_on_a_named_target_measures_and_drops_the_indexes() {
    let db = chat_db("advise_verify");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    std::fs::write(
        &sql,
        "SELECT id, role FROM messages WHERE conversation_id = 5 ORDER BY created_at DESC LIMIT 10;\n\
         SELECT id FROM messages WHERE content LIKE '%abc1%';\n\
         UPDATE users SET email = email WHERE id = 3;\n",
    )
    .unwrap();
    let before = index_names(&db);
    let report = advise(
        &db.url(),
        &[
            "--workload",
            sql.to_str().unwrap(),
            "--verify-on",
            &db.url(),
            "--verify-runs",
            "3",
        ],
    );
    let index = assert_recommends(&report, "(conversation_id, created_at DESC)");
    let measured = &index["impact"]["measured"];
    assert!(measured.is_array(), "{index:#}");
    let before_ms = evidence(&index, "query 1 median time before");
    let after_ms = evidence(&index, "query 1 median time after");
    assert!(after_ms < before_ms, "{before_ms} ms -> {after_ms} ms");
    assert!(evidence(&index, "query 1 buffers after") < evidence(&index, "query 1 buffers before"));
    assert!(evidence(&index, "size on disk") > 0.0);
    let trigram = assert_recommends(&report, "gin_trgm_ops");
    assert!(
        evidence(&trigram, "query 1 median time after")
            < evidence(&trigram, "query 1 median time before")
    );
    let summary = &findings(&report, "advise.workload")[0];
    assert!(evidence(summary, "workload time change") < 0.0);
    let notes: Vec<&str> = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("dropped afterwards")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("1 write queries were not run")),
        "{notes:?}"
    );
    assert_eq!(
        index_names(&db),
        before,
        "the verification indexes are gone"
    );
}

#[test]
fn verify_copies_the_database_into_a_sandbox() {
    let db = chat_db("advise_sandbox");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    std::fs::write(
        &sql,
        "SELECT id FROM messages WHERE conversation_id = 5;\n\
         UPDATE messages SET role = 'user' WHERE conversation_id = 7;\n",
    )
    .unwrap();
    let assistant = || {
        db.sql("SELECT count(*) FROM messages WHERE conversation_id = 7 AND role = 'assistant';")
    };
    let before = assistant();
    let report = advise(
        &db.url(),
        &[
            "--workload",
            sql.to_str().unwrap(),
            "--verify",
            "--verify-runs",
            "3",
        ],
    );
    let index = assert_recommends(&report, "(conversation_id)");
    assert!(
        evidence(&index, "query 1 median time after")
            < evidence(&index, "query 1 median time before")
    );
    let notes = report["notes"].to_string();
    assert!(notes.contains("(a sandbox copy)"), "{notes}");
    assert!(!notes.contains("write queries were not run"), "{notes}");
    // The update ran in the sandbox only, and was rolled back there.
    assert_eq!(assistant(), before);
}

#[test]
fn apply_builds_the_indexes_concurrently() {
    let db = chat_db("advise_apply");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    std::fs::write(&sql, "SELECT id FROM messages WHERE conversation_id = 5;\n").unwrap();
    let report = advise(&db.url(), &["--workload", sql.to_str().unwrap(), "--apply"]);
    assert!(report["notes"]
        .to_string()
        .contains("Applied: built messages_conversation_id"));
    assert!(index_names(&db).contains("messages_conversation_id"));
    let valid =
        db.sql("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'messages'::regclass;");
    assert_eq!(valid.trim(), "t");
}

#[test]
fn budgets_limit_the_number_and_size_of_indexes() {
    let db = chat_db("advise_budget");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    std::fs::write(
        &sql,
        "SELECT id FROM messages WHERE conversation_id = 5;\n\
         SELECT id FROM conversations WHERE user_id = 5;\n\
         SELECT id FROM users WHERE lower(email) = 'a';\n",
    )
    .unwrap();
    let all = advise(&db.url(), &["--workload", sql.to_str().unwrap()]);
    assert!(recommended(&all).len() >= 2, "{:#?}", recommended(&all));
    let one = advise(
        &db.url(),
        &["--workload", sql.to_str().unwrap(), "--max-indexes", "1"],
    );
    assert_eq!(recommended(&one).len(), 1);
    let tiny = advise(
        &db.url(),
        &["--workload", sql.to_str().unwrap(), "--budget-bytes", "8kB"],
    );
    assert!(recommended(&tiny).is_empty(), "{:#?}", recommended(&tiny));
}

/// Asserts a clean failure: exit code 2, one line on stderr that contains `needle`.
fn assert_bad_input(args: &[&str], needle: &str) {
    let output = brisk(args);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://app@127.0.0.1:1/app?connect_timeout=2";
    assert_bad_input(
        &["advise", url, "--workload", "/no/such/workload.jsonl"],
        "cannot read --workload /no/such/workload.jsonl",
    );
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"query\": \"SELECT 1\"}\n{\"calls\": 2}\n").unwrap();
    assert_bad_input(
        &["advise", url, "--workload", bad.to_str().unwrap()],
        "line 2: missing field `query`",
    );
    // clap reports bad flags itself, with a usage hint, and exit code 2.
    assert_eq!(
        brisk(&["advise", url, "--budget-bytes", "lots"])
            .status
            .code(),
        Some(2)
    );
    assert_bad_input(&["advise", url], "cannot reach PostgreSQL");
    let db = Db::fresh("advise_nostats");
    db.sql("DROP EXTENSION pg_stat_statements;");
    assert_bad_input(&["advise", &db.url()], "--workload FILE");
}
