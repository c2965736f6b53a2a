//! `brisk check` on catalog problems: each is planted in a fresh database and found, and in
//! a database without it nothing is said.

mod common;

use common::{assert_silent, check, evidence, finding, findings, Db};

/// When the statistics of `db` will cover `days` days, as `brisk check` words it: from their
/// last reset, or from the server's start when they were never reset.
fn statistics_cover_days_at(db: &Db, days: u32) -> String {
    db.sql(&format!(
        "SELECT to_char((coalesce(stats_reset, pg_postmaster_start_time()) + interval '{days} days')
                        AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
           FROM pg_stat_database WHERE datname = current_database();"
    ))
    .trim()
    .to_string()
}

#[test]
fn unused_index_on_young_statistics_says_when_to_check_again_and_drops_nothing() {
    let db = Db::fresh("unused");
    db.sql(
        "CREATE TABLE items (id bigint PRIMARY KEY, sku text UNIQUE, note text);
         INSERT INTO items SELECT g, 'sku' || g, 'n' FROM generate_series(1, 2000) g;
         CREATE INDEX items_note_idx ON items (note);",
    );
    let report = check(&db.url(), &[]);
    let unused = finding(&report, "index.unused", "public.items_note_idx");
    assert!(evidence(unused, "size") > 0.0);
    assert!(evidence(unused, "statistics age") >= 0.0);
    // Seconds of statistics prove little: info, and no DROP until they cover a week.
    assert_eq!(unused["severity"], "info");
    assert_eq!(unused["fix"]["kind"], "manual");
    let apply = unused["fix"]["apply"].as_str().unwrap();
    assert!(!apply.contains("DROP"), "{apply}");
    let date = statistics_cover_days_at(&db, 7);
    assert!(
        apply.starts_with(&format!("Check again on {date}")),
        "{apply} (expected {date})"
    );
    // Primary keys and unique indexes enforce something and are never "unused".
    assert_silent(&report, "index.unused", "public.items_pkey");
    assert_silent(&report, "index.unused", "public.items_sku_key");
}

#[test]
fn unused_index_is_a_warning_with_a_drop_once_statistics_are_old_enough() {
    let db = Db::fresh("unused_old");
    db.sql(
        "CREATE TABLE items (id bigint PRIMARY KEY, note text);
         CREATE INDEX items_note_idx ON items (note);",
    );
    // A threshold of 0 days makes seconds of statistics old enough.
    let report = check(&db.url(), &["--unused-index-min-days", "0"]);
    let unused = finding(&report, "index.unused", "public.items_note_idx");
    assert_eq!(unused["severity"], "warning");
    assert_eq!(
        unused["fix"]["apply"],
        "DROP INDEX CONCURRENTLY IF EXISTS public.items_note_idx;"
    );
    assert!(unused["fix"]["rollback"]
        .as_str()
        .unwrap()
        .contains("CREATE INDEX CONCURRENTLY items_note_idx"));
    assert_silent(&report, "index.unused", "public.items_pkey");
}

#[test]
fn of_two_unused_duplicates_one_is_dropped_and_the_other_stays() {
    let db = Db::fresh("dup_unused");
    db.sql(
        "CREATE TABLE files (id bigint PRIMARY KEY, user_id bigint);
         CREATE INDEX files_user_id_idx ON files (user_id);
         CREATE INDEX files_user_id_idx1 ON files (user_id);",
    );
    for days in ["7", "0"] {
        let report = check(&db.url(), &["--unused-index-min-days", days]);
        let dup = finding(&report, "index.duplicate", "public.files_user_id_idx1");
        assert!(dup["detail"]
            .as_str()
            .unwrap()
            .contains("files_user_id_idx stays"));
        // The one that stays gets no finding of its own: no second DROP.
        for check_id in ["index.unused", "index.duplicate", "index.redundant"] {
            assert_silent(&report, check_id, "public.files_user_id_idx");
        }
        assert_silent(&report, "index.unused", "public.files_user_id_idx1");
    }
}

#[test]
fn a_used_prefix_stays_once_its_unused_wider_index_can_be_judged() {
    let db = Db::fresh("prefix_used");
    db.sql(
        "CREATE TABLE messages (id bigint PRIMARY KEY, conversation_id bigint, created_at timestamptz);
         INSERT INTO messages SELECT g, g % 1000, now() - g * interval '1 s'
           FROM generate_series(1, 100000) g;
         CREATE INDEX messages_conv ON messages (conversation_id);
         CREATE INDEX messages_conv_created ON messages (conversation_id, created_at);",
    );
    // Enough rows that the narrower index is the cheaper read, as in the demo.
    db.sql("ANALYZE messages;");
    db.sql("SELECT id FROM messages WHERE conversation_id = 7;");
    db.wait_for_table_stat("messages", "idx_scan", 1);
    let scanned =
        db.sql("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'messages_conv';");
    assert_ne!(
        scanned.trim(),
        "0",
        "the planner should read the narrower index"
    );

    // Old enough statistics: the wider index was never scanned, so it goes, as unused.
    let report = check(&db.url(), &["--unused-index-min-days", "0"]);
    let unused = finding(&report, "index.unused", "public.messages_conv_created");
    assert!(unused["fix"]["apply"]
        .as_str()
        .unwrap()
        .starts_with("DROP INDEX"));
    assert!(unused["detail"]
        .as_str()
        .unwrap()
        .contains("messages_conv stays"));
    assert_silent(&report, "index.redundant", "public.messages_conv");

    // Young statistics say nothing about the wider one: the prefix goes, the wider stays.
    let report = check(&db.url(), &[]);
    let redundant = finding(&report, "index.redundant", "public.messages_conv");
    assert!(redundant["detail"]
        .as_str()
        .unwrap()
        .contains("messages_conv_created stays: it is the wider one"));
    assert_silent(&report, "index.unused", "public.messages_conv_created");
}

#[test]
fn the_only_index_of_a_foreign_key_is_not_dropped_as_unused() {
    let db = Db::fresh("fk_unused");
    db.sql(
        "CREATE TABLE users (id int PRIMARY KEY);
         CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users (id), tag text);
         CREATE INDEX posts_user_id ON posts (user_id);
         CREATE INDEX posts_tag ON posts (tag);",
    );
    let report = check(&db.url(), &["--unused-index-min-days", "0"]);
    assert_silent(&report, "index.unused", "public.posts_user_id");
    assert_silent(&report, "fk.unindexed", "public.posts (user_id)");
    // An unused index that serves no foreign key is still found.
    finding(&report, "index.unused", "public.posts_tag");
}

#[test]
fn used_index_is_not_reported() {
    let db = Db::fresh("used");
    db.sql(
        "CREATE TABLE items (id bigint PRIMARY KEY, note text);
         INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 2000) g;
         CREATE INDEX items_note_idx ON items (note);
         ANALYZE items;",
    );
    db.sql("SET enable_seqscan = off; SELECT count(*) FROM items WHERE note = 'n5';");
    let report = check(&db.url(), &[]);
    assert_silent(&report, "index.unused", "public.items_note_idx");
}

#[test]
fn duplicate_index_is_found_and_the_constraint_index_is_kept() {
    let db = Db::fresh("duplicate");
    db.sql(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text, org int);
         CREATE UNIQUE INDEX accounts_email_a ON accounts (email);
         ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);
         CREATE INDEX accounts_org_a ON accounts (org) WHERE org > 0;
         CREATE INDEX accounts_org_b ON accounts (org) WHERE org > 0;",
    );
    let report = check(&db.url(), &[]);
    // The unique constraint's index stays; the stand-alone copy goes.
    let dup = finding(&report, "index.duplicate", "public.accounts_email_a");
    assert!(dup["title"]
        .as_str()
        .unwrap()
        .contains("accounts_email_key"));
    assert!(dup["fix"]["apply"]
        .as_str()
        .unwrap()
        .starts_with("DROP INDEX CONCURRENTLY IF EXISTS public.accounts_email_a"));
    assert_silent(&report, "index.duplicate", "public.accounts_email_key");
    // Same columns and the same predicate: duplicates too. Exactly one of the pair is named.
    let partial: Vec<_> = findings(&report, "index.duplicate")
        .into_iter()
        .filter(|f| f["subject"].as_str().unwrap().contains("accounts_org"))
        .collect();
    assert_eq!(partial.len(), 1, "{partial:#?}");
}

#[test]
fn a_primary_key_is_kept_over_a_busier_unique_constraint() {
    let db = Db::fresh("pk_dup");
    db.sql(
        // Declared together, PostgreSQL builds one index; added later, a second.
        "CREATE TABLE k (id int PRIMARY KEY);
         ALTER TABLE k ADD CONSTRAINT k_id_key UNIQUE (id);
         INSERT INTO k SELECT generate_series(1, 100);",
    );
    // Whichever of the two the planner picks becomes the busier; the primary key stays.
    db.sql("SET enable_seqscan = off; SELECT * FROM k WHERE id = 3; SELECT * FROM k WHERE id = 4;");
    let report = check(&db.url(), &[]);
    let dup = finding(&report, "index.duplicate", "public.k_id_key");
    assert_eq!(dup["fix"]["kind"], "manual");
    assert_silent(&report, "index.duplicate", "public.k_pkey");
}

#[test]
fn unique_indexes_that_treat_nulls_differently_are_not_duplicates() {
    let db = Db::fresh("nnd");
    db.sql(
        "CREATE TABLE t (a int);
         CREATE UNIQUE INDEX t_a ON t (a);
         CREATE UNIQUE INDEX t_a_nnd ON t (a) NULLS NOT DISTINCT;",
    );
    let report = check(&db.url(), &[]);
    assert!(findings(&report, "index.duplicate").is_empty());
}

#[test]
fn partitioned_indexes_are_judged_once_at_the_parent() {
    let db = Db::fresh("partitioned");
    db.sql(
        "CREATE TABLE p (id int, at date, a int) PARTITION BY RANGE (at);
         CREATE TABLE p_2025 PARTITION OF p FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
         CREATE TABLE p_2026 PARTITION OF p FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
         CREATE INDEX p_a ON p (a);
         CREATE INDEX p_a2 ON p (a);
         CREATE INDEX p_id ON p (id);",
    );
    let report = check(&db.url(), &[]);
    let dup: Vec<_> = findings(&report, "index.duplicate");
    assert_eq!(dup.len(), 1, "only the parent pair: {dup:#?}");
    assert_eq!(dup[0]["subject"], "public.p_a2");
    // A partitioned index cannot be dropped or built CONCURRENTLY, nor rebuilt ON ONLY.
    assert_eq!(dup[0]["fix"]["apply"], "DROP INDEX IF EXISTS public.p_a2;");
    assert_eq!(
        dup[0]["fix"]["rollback"],
        "CREATE INDEX p_a2 ON public.p USING btree (a);"
    );
    // Unused: the parents (scans summed over the partitions), not the partitions' copies.
    let unused: Vec<_> = findings(&report, "index.unused")
        .into_iter()
        .map(|f| f["subject"].as_str().unwrap().to_string())
        .collect();
    assert!(unused.contains(&"public.p_id".to_string()), "{unused:?}");
    assert!(unused.iter().all(|s| !s.contains("p_2025")), "{unused:?}");
}

#[test]
fn indexes_that_differ_are_not_duplicates() {
    let db = Db::fresh("not_duplicate");
    db.sql(
        "CREATE TABLE t (a int, b int, c text);
         CREATE INDEX t_a ON t (a);
         CREATE INDEX t_a_desc ON t (a DESC);
         CREATE INDEX t_a_partial ON t (a) WHERE b > 0;
         CREATE INDEX t_b_hash ON t USING hash (b);
         CREATE INDEX t_b ON t (b);
         CREATE INDEX t_lower_c ON t (lower(c));
         CREATE INDEX t_upper_c ON t (upper(c));",
    );
    let report = check(&db.url(), &[]);
    assert!(
        findings(&report, "index.duplicate").is_empty(),
        "{:#?}",
        findings(&report, "index.duplicate")
    );
}

#[test]
fn prefix_index_is_redundant() {
    let db = Db::fresh("redundant");
    db.sql(
        "CREATE TABLE messages (id bigint PRIMARY KEY, conversation_id bigint, created_at timestamptz);
         CREATE INDEX messages_conv ON messages (conversation_id);
         CREATE INDEX messages_conv_created ON messages (conversation_id, created_at);",
    );
    let report = check(&db.url(), &[]);
    let redundant = finding(&report, "index.redundant", "public.messages_conv");
    assert!(redundant["title"]
        .as_str()
        .unwrap()
        .contains("messages_conv_created"));
    assert_silent(&report, "index.redundant", "public.messages_conv_created");
}

#[test]
fn unique_or_differently_ordered_prefixes_are_not_redundant() {
    let db = Db::fresh("not_redundant");
    db.sql(
        "CREATE TABLE t (a int, b int, c int);
         CREATE UNIQUE INDEX t_a_unique ON t (a);
         CREATE INDEX t_a_b ON t (a, b);
         CREATE INDEX t_b ON t (b);
         CREATE INDEX t_c_b ON t (c, b);
         CREATE INDEX t_c_partial ON t (c) WHERE a > 0;
         CREATE INDEX t_c_a ON t (c, a);",
    );
    let report = check(&db.url(), &[]);
    assert!(
        findings(&report, "index.redundant").is_empty(),
        "{:#?}",
        findings(&report, "index.redundant")
    );
}

#[test]
fn invalid_index_from_a_failed_concurrent_build_is_found() {
    let db = Db::fresh("invalid");
    db.sql(
        "CREATE TABLE users (id int PRIMARY KEY, name text);
         INSERT INTO users VALUES (1, 'ann'), (2, 'ann');",
    );
    let failed = db.pg.psql(
        &db.name,
        "CREATE UNIQUE INDEX CONCURRENTLY users_name_key ON users (name);",
    );
    assert!(failed.is_err(), "the unique build must fail on duplicates");
    let report = check(&db.url(), &[]);
    let invalid = finding(&report, "index.invalid", "public.users_name_key");
    // The rebuild would fail again on the duplicates: a person removes them first, with
    // the query the fix gives, which finds exactly them.
    assert_eq!(invalid["fix"]["kind"], "manual", "{invalid:#}");
    let fix = invalid["fix"]["apply"].as_str().unwrap();
    assert!(fix.contains("DROP INDEX CONCURRENTLY IF EXISTS public.users_name_key;"));
    assert!(fix.contains("CREATE UNIQUE INDEX CONCURRENTLY users_name_key"));
    let query = fix
        .lines()
        .find_map(|l| l.strip_prefix("Find the duplicates: "))
        .unwrap_or_else(|| panic!("no duplicate query in {fix}"));
    assert_eq!(db.sql(query).trim(), "ann|2");
    db.sql("DELETE FROM users WHERE id = 2;");
    let rebuild: Vec<&str> = fix
        .lines()
        .skip_while(|l| !l.starts_with("DROP INDEX"))
        .collect();
    for statement in rebuild {
        db.sql(statement);
    }
    let after = check(&db.url(), &[]);
    assert!(findings(&after, "index.invalid").is_empty());
    assert!(invalid["detail"]
        .as_str()
        .unwrap()
        .contains("duplicate values"));
    // An invalid index is not also reported as unused or duplicate.
    assert_silent(&report, "index.unused", "public.users_name_key");
}

#[test]
fn a_leftover_of_a_failed_reindex_is_only_dropped() {
    let db = Db::fresh("ccnew");
    db.sql(
        "CREATE TABLE t (a int);
         INSERT INTO t VALUES (1), (1);",
    );
    // The name is what REINDEX CONCURRENTLY gives its copy; a failed unique build makes it
    // invalid the way an interrupted reindex does.
    let failed = db.pg.psql(
        &db.name,
        "CREATE UNIQUE INDEX CONCURRENTLY t_a_idx_ccnew ON t (a);",
    );
    assert!(failed.is_err());
    let report = check(&db.url(), &[]);
    let leftover = finding(&report, "index.invalid", "public.t_a_idx_ccnew");
    assert_eq!(
        leftover["fix"]["apply"],
        "DROP INDEX CONCURRENTLY IF EXISTS public.t_a_idx_ccnew;"
    );
}

#[test]
fn valid_indexes_are_not_invalid() {
    let db = Db::fresh("valid");
    db.sql(
        "CREATE TABLE users (id int PRIMARY KEY, name text);
         INSERT INTO users VALUES (1, 'ann'), (2, 'bob');",
    );
    db.sql("CREATE UNIQUE INDEX CONCURRENTLY users_name_key ON users (name);");
    let report = check(&db.url(), &[]);
    assert!(findings(&report, "index.invalid").is_empty());
}

/// Writes every row of `table` `times` times, then vacuums (without compacting).
fn churn(db: &Db, table: &str, set: &str, times: usize) {
    for _ in 0..times {
        db.sql(&format!("UPDATE {table} SET {set};"));
    }
    db.sql(&format!("VACUUM ANALYZE {table};"));
}

#[test]
fn bloated_table_and_index_are_estimated() {
    let db = Db::fresh("bloat");
    db.sql(
        "CREATE TABLE events (id bigint PRIMARY KEY, payload text NOT NULL, n int NOT NULL)
           WITH (autovacuum_enabled = false);
         INSERT INTO events SELECT g, md5(g::text), 0 FROM generate_series(1, 60000) g;
         CREATE INDEX events_n ON events (n, id);",
    );
    churn(&db, "events", "n = n + 1", 3);
    let report = check(&db.url(), &["--bloat-min-mb", "1"]);
    let table = finding(&report, "table.bloat", "public.events");
    assert!(table["title"].as_str().unwrap().contains("(estimate)"));
    let wasted_pct = evidence(table, "bloat");
    assert!(
        (60.0..=80.0).contains(&wasted_pct),
        "three quarters of the pages are empty: {wasted_pct}"
    );
    assert!(table["impact"]["estimated"].is_array());
    assert!(table["fix"]["note"].as_str().unwrap().contains("pg_repack"));

    let index = finding(&report, "index.bloat", "public.events_n");
    assert!(evidence(index, "bloat") >= 50.0);
    assert!(index["fix"]["apply"]
        .as_str()
        .unwrap()
        .contains("REINDEX INDEX CONCURRENTLY public.events_n"));
}

#[test]
fn freshly_loaded_tables_and_indexes_are_not_bloated() {
    let db = Db::fresh("no_bloat");
    db.sql(
        "CREATE TABLE events (id bigint PRIMARY KEY, payload text, n int, at timestamptz);
         INSERT INTO events SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE md5(g::text) END, g % 7, now()
           FROM generate_series(1, 60000) g;
         CREATE INDEX events_n ON events (n, id);
         CREATE INDEX events_payload ON events (payload);
         CREATE INDEX events_lower ON events (lower(payload));
         -- Columns that PostgreSQL pads to keep each bigint 8-aligned.
         CREATE TABLE padded (id bigint, a bool, b bigint, c bool, d bigint, e bool,
                              f timestamptz, g int2, h bigint);
         INSERT INTO padded SELECT g, true, g, false, g, true, now(), 1, g
           FROM generate_series(1, 60000) g;",
    );
    db.sql("VACUUM ANALYZE events, padded;");
    // With no size floor at all, an accurate estimate still finds nothing to report.
    let report = check(&db.url(), &["--bloat-min-mb", "0"]);
    assert!(
        findings(&report, "table.bloat").is_empty(),
        "{:#?}",
        findings(&report, "table.bloat")
    );
    assert!(
        findings(&report, "index.bloat").is_empty(),
        "{:#?}",
        findings(&report, "index.bloat")
    );
}

#[test]
fn dead_rows_are_found_when_vacuum_is_behind() {
    let db = Db::fresh("dead");
    db.sql(
        "CREATE TABLE sessions (id int PRIMARY KEY, expired bool) WITH (autovacuum_enabled = false);
         INSERT INTO sessions SELECT g, g % 10 < 6 FROM generate_series(1, 5000) g;",
    );
    // ANALYZE sets the live count; an insert reported after it would be added again.
    db.wait_for_table_stat("sessions", "n_tup_ins", 5000);
    db.sql("ANALYZE sessions;");
    db.sql("DELETE FROM sessions WHERE expired;");
    db.wait_for_table_stat("sessions", "n_tup_del", 3000);
    let report = check(&db.url(), &[]);
    let dead = finding(&report, "vacuum.dead_tuples", "public.sessions");
    assert_eq!(evidence(dead, "dead rows"), 3000.0);
    assert_eq!(evidence(dead, "live rows"), 2000.0);
    let fix = dead["fix"]["apply"].as_str().unwrap();
    assert!(fix.contains("VACUUM (ANALYZE, VERBOSE) public.sessions;"));
    assert!(
        fix.contains("RESET (autovacuum_enabled)"),
        "autovacuum is off, so the fix turns it back on"
    );
}

#[test]
fn vacuumed_tables_have_no_dead_row_finding() {
    let db = Db::fresh("vacuumed");
    db.sql(
        "CREATE TABLE sessions (id int PRIMARY KEY, expired bool);
         INSERT INTO sessions SELECT g, g % 10 < 6 FROM generate_series(1, 5000) g;",
    );
    // Each statement's backend hands its table counts to the statistics when it ends, which
    // can come after a later VACUUM's own report and undo it (3,000 dead and 0 live rows
    // after the VACUUM, once, on a loaded machine): wait for them first.
    db.wait_for_table_stat("sessions", "n_tup_ins", 5000);
    db.sql("DELETE FROM sessions WHERE expired;");
    db.wait_for_table_stat("sessions", "n_tup_del", 3000);
    db.sql("VACUUM ANALYZE sessions;");
    let report = check(&db.url(), &[]);
    assert_silent(&report, "vacuum.dead_tuples", "public.sessions");
    assert_silent(&report, "vacuum.stale_statistics", "public.sessions");
}

#[test]
fn never_analyzed_table_is_found_and_analyzed_one_is_not() {
    let db = Db::fresh("analyze");
    db.sql(
        "CREATE TABLE audit_log (at timestamptz DEFAULT now(), action text);
         INSERT INTO audit_log (action) SELECT 'login' FROM generate_series(1, 3000);
         CREATE TABLE analyzed (id int);
         INSERT INTO analyzed SELECT generate_series(1, 3000);
         CREATE TABLE empty (id int);",
    );
    db.sql("ANALYZE analyzed;");
    let report = check(&db.url(), &[]);
    let never = finding(&report, "vacuum.never_analyzed", "public.audit_log");
    assert_eq!(never["fix"]["apply"], "ANALYZE VERBOSE public.audit_log;");
    assert_silent(&report, "vacuum.never_analyzed", "public.analyzed");
    assert_silent(&report, "vacuum.never_analyzed", "public.empty");
}

#[test]
fn a_statistics_reset_does_not_make_analyzed_tables_look_unanalyzed() {
    let db = Db::fresh("reset");
    db.sql(
        "CREATE TABLE orders (id int PRIMARY KEY);
         INSERT INTO orders SELECT generate_series(1, 3000);",
    );
    db.sql("ANALYZE orders;");
    db.sql("SELECT pg_stat_reset();");
    let report = check(&db.url(), &[]);
    assert_silent(&report, "vacuum.never_analyzed", "public.orders");
}

#[test]
fn statistics_gone_stale_after_heavy_changes_are_found() {
    let db = Db::fresh("stale");
    db.sql(
        "CREATE TABLE orders (id int PRIMARY KEY, status text);
         INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 5000) g;",
    );
    // The first rows' changes must be counted before ANALYZE resets the count: a backend
    // reports them as it exits, which can be after psql returns.
    db.wait_for_table_stat("orders", "n_tup_ins", 5000);
    db.sql("ANALYZE orders;");
    db.sql("INSERT INTO orders SELECT g, 'new' FROM generate_series(5001, 15000) g;");
    db.wait_for_table_stat("orders", "n_tup_ins", 15000);
    let report = check(&db.url(), &[]);
    let stale = finding(&report, "vacuum.stale_statistics", "public.orders");
    assert_eq!(evidence(stale, "changed since analyze"), 10000.0);
}

#[test]
fn transaction_id_age_past_the_freeze_limit_is_found() {
    let db = Db::fresh("wraparound");
    // A table may lower autovacuum_freeze_max_age for itself (to at least 100,000); then
    // 100,000 transactions take it past its limit, which is what years of traffic do to a
    // table with the default of 200 million.
    db.sql(
        "CREATE TABLE ledger (id int PRIMARY KEY) WITH (autovacuum_freeze_max_age = 100000);
         CREATE TABLE fresh (id int PRIMARY KEY);
         CREATE PROCEDURE burn(n int) LANGUAGE plpgsql AS $$
         BEGIN
           FOR i IN 1..n LOOP PERFORM txid_current(); COMMIT; END LOOP;
         END $$;
         CALL burn(100500);",
    );
    let report = check(&db.url(), &[]);
    let old = finding(&report, "vacuum.wraparound", "public.ledger");
    assert_eq!(old["severity"], "warning");
    assert!(evidence(old, "transaction ID age") >= 100_000.0);
    assert_eq!(evidence(old, "autovacuum_freeze_max_age"), 100_000.0);
    assert_eq!(
        old["fix"]["apply"],
        "VACUUM (FREEZE, VERBOSE) public.ledger;"
    );
    assert_silent(&report, "vacuum.wraparound", "public.fresh");

    db.sql("VACUUM (FREEZE) ledger;");
    let report = check(&db.url(), &[]);
    assert_silent(&report, "vacuum.wraparound", "public.ledger");
}

#[test]
fn sequences_near_their_limit_are_found() {
    let db = Db::fresh("sequences");
    db.sql(
        "CREATE TABLE orders (id serial PRIMARY KEY);
         SELECT setval('orders_id_seq', 1800000000);
         CREATE TABLE tickets (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);
         SELECT setval(pg_get_serial_sequence('tickets', 'id'), 2100000000);
         -- A bigint sequence feeding an integer column fails at the column's limit.
         CREATE SEQUENCE legacy_seq AS bigint;
         CREATE TABLE legacy (id integer PRIMARY KEY DEFAULT nextval('legacy_seq'));
         ALTER SEQUENCE legacy_seq OWNED BY legacy.id;
         SELECT setval('legacy_seq', 1700000000);
         -- No OWNED BY: only the column default ties this bigint sequence to an int column.
         CREATE SEQUENCE loose_seq AS bigint;
         CREATE TABLE loose (id int PRIMARY KEY DEFAULT nextval('loose_seq'));
         SELECT setval('loose_seq', 2000000000);
         -- A small ring buffer of ids, wrapping by design.
         CREATE SEQUENCE ring_seq MAXVALUE 100 CYCLE;
         SELECT setval('ring_seq', 95);
         CREATE TABLE roomy (id bigserial PRIMARY KEY);
         SELECT setval('roomy_id_seq', 1800000000);
         CREATE TABLE fresh (id serial PRIMARY KEY);
         INSERT INTO fresh DEFAULT VALUES;",
    );
    let report = check(&db.url(), &[]);
    let orders = finding(&report, "sequence.exhaustion", "public.orders_id_seq");
    assert_eq!(orders["severity"], "warning");
    assert!((evidence(orders, "used") - 83.8).abs() < 0.1);
    let fix = orders["fix"]["apply"].as_str().unwrap();
    assert!(fix.contains("ALTER TABLE public.orders ALTER COLUMN id TYPE bigint;"));
    assert!(fix.contains("ALTER SEQUENCE public.orders_id_seq AS bigint;"));

    let tickets = finding(&report, "sequence.exhaustion", "public.tickets_id_seq");
    assert_eq!(tickets["severity"], "critical");

    let legacy = finding(&report, "sequence.exhaustion", "public.legacy_seq");
    assert_eq!(evidence(legacy, "limit"), 2_147_483_647.0);
    assert!(legacy["fix"]["apply"]
        .as_str()
        .unwrap()
        .contains("ALTER TABLE public.legacy ALTER COLUMN id TYPE bigint;"));

    let loose = finding(&report, "sequence.exhaustion", "public.loose_seq");
    assert_eq!(loose["severity"], "critical");
    assert!(loose["title"].as_str().unwrap().contains("integer column"));
    assert!(loose["fix"]["apply"]
        .as_str()
        .unwrap()
        .contains("ALTER TABLE public.loose ALTER COLUMN id TYPE bigint;"));

    let ring = finding(&report, "sequence.exhaustion", "public.ring_seq");
    assert_eq!(
        ring["severity"], "info",
        "a cycling sequence with its own MAXVALUE wraps by design"
    );
    assert!(ring["title"].as_str().unwrap().contains("MAXVALUE"));

    assert_silent(&report, "sequence.exhaustion", "public.roomy_id_seq");
    assert_silent(&report, "sequence.exhaustion", "public.fresh_id_seq");
}

#[test]
fn foreign_key_without_an_index_is_found() {
    let db = Db::fresh("fk");
    db.sql(
        "CREATE TABLE users (id int PRIMARY KEY);
         CREATE TABLE orgs (id int, region int, PRIMARY KEY (id, region));
         CREATE TABLE conversations (
             id int PRIMARY KEY,
             user_id int REFERENCES users (id),
             org_id int, region int,
             FOREIGN KEY (org_id, region) REFERENCES orgs (id, region));
         CREATE TABLE messages (id int PRIMARY KEY, user_id int REFERENCES users (id));
         CREATE INDEX messages_user_id_created ON messages (user_id, id);
         -- Columns in the other order still serve the lookup.
         CREATE INDEX conversations_region_org ON conversations (region, org_id);",
    );
    let report = check(&db.url(), &[]);
    let fk = finding(&report, "fk.unindexed", "public.conversations (user_id)");
    assert_eq!(
        fk["fix"]["apply"],
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS conversations_user_id_idx ON public.conversations (user_id);"
    );
    assert_eq!(
        fk["fix"]["rollback"],
        "DROP INDEX CONCURRENTLY IF EXISTS public.conversations_user_id_idx;"
    );
    assert_eq!(
        findings(&report, "fk.unindexed").len(),
        1,
        "{:#?}",
        findings(&report, "fk.unindexed")
    );
}

#[test]
fn fixes_quote_names_that_are_keywords() {
    let db = Db::fresh("keywords");
    db.sql(
        "CREATE TABLE parent (id int PRIMARY KEY);
         CREATE TABLE child (id int PRIMARY KEY, \"left\" int REFERENCES parent (id));",
    );
    let report = check(&db.url(), &[]);
    let fk = finding(&report, "fk.unindexed", "public.child (\"left\")");
    let apply = fk["fix"]["apply"].as_str().unwrap();
    assert!(apply.ends_with("ON public.child (\"left\");"), "{apply}");
    // The suggested SQL is valid: run it (the sandbox is a test database).
    db.sql(apply);
}

#[test]
fn table_without_primary_key_is_found() {
    let db = Db::fresh("pk");
    db.sql(
        "CREATE TABLE audit_log (at timestamptz, action text);
         CREATE TABLE keyed (id int PRIMARY KEY);
         CREATE TABLE natural_key (code text NOT NULL);
         CREATE UNIQUE INDEX natural_key_code ON natural_key (code);
         CREATE TABLE parts (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
         CREATE TABLE parts_2026 PARTITION OF parts FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
    );
    let report = check(&db.url(), &[]);
    let no_pk = finding(&report, "table.no_primary_key", "public.audit_log");
    assert!(no_pk["fix"]["apply"]
        .as_str()
        .unwrap()
        .contains("GENERATED ALWAYS AS IDENTITY PRIMARY KEY"));
    // A unique index can be promoted instead of adding a column.
    let natural = finding(&report, "table.no_primary_key", "public.natural_key");
    assert!(natural["fix"]["apply"]
        .as_str()
        .unwrap()
        .contains("PRIMARY KEY USING INDEX natural_key_code"));
    assert_silent(&report, "table.no_primary_key", "public.keyed");
    assert_silent(&report, "table.no_primary_key", "public.parts");
    assert_silent(&report, "table.no_primary_key", "public.parts_2026");
}

#[test]
fn a_clean_database_has_no_findings() {
    let db = Db::fresh("clean");
    db.sql(
        "CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text UNIQUE);
         CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));
         CREATE INDEX posts_user_id ON posts (user_id);
         INSERT INTO users (email) SELECT 'u' || g FROM generate_series(1, 100) g;
         INSERT INTO posts SELECT g, 1 + g % 100 FROM generate_series(1, 1000) g;",
    );
    // A session's write counters reach the statistics as its backend exits, which can be
    // after psql has returned: ANALYZE waits for them, as it would run on a real server some
    // time after the load (counted after it, they would be changes since the analyze).
    db.wait_for_table_stat("users", "n_tup_ins", 100);
    db.wait_for_table_stat("posts", "n_tup_ins", 1000);
    db.sql("ANALYZE users, posts;");
    db.sql("SET enable_seqscan = off; SELECT * FROM posts WHERE user_id = 3;");
    // Activity checks are cluster-wide and other tests share this cluster: leave them out.
    let report = check(
        &db.url(),
        &[
            "--skip",
            "connections.usage",
            "--skip",
            "connections.idle_in_transaction",
            "--skip",
            "connections.long_running",
            "--skip",
            "connections.blocked",
        ],
    );
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        0,
        "{:#}",
        report["findings"]
    );
    assert_eq!(report["summary"]["warning"], 0);
    assert!(report["skipped"].as_array().unwrap().is_empty());
}
