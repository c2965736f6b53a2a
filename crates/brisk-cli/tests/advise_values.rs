//! `brisk advise` and the values a workload keeps or loses: partial indexes from the constants
//! every call repeats (a proxy capture with `log_parameters`, a `.sql` file), conditional
//! advice from `pg_stats` when the source kept no values (`pg_stat_statements`), and the
//! indexes that serve a join's inner side and its own filter together.

mod common;

use std::path::Path;

use common::{advise, evidence, findings, recommended, Db};
use serde_json::Value;

/// A shop: 200,000 orders of 4,000 customers, most of them delivered and 2% pending; a
/// shipment per order from one of 40 carriers; and 20 events per order for its first 10,000
/// orders.
const SHOP_SCHEMA: &str = "
    CREATE TABLE customers (
        id bigserial PRIMARY KEY, name text NOT NULL, country text NOT NULL);
    CREATE TABLE orders (
        id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers,
        state text NOT NULL, placed_at timestamptz NOT NULL, total numeric NOT NULL);
    CREATE TABLE shipments (
        id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders,
        carrier_id integer NOT NULL, shipped_at timestamptz NOT NULL, weight_g integer NOT NULL);
    CREATE TABLE order_events (
        id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders,
        kind text NOT NULL, created_at timestamptz NOT NULL, note text NOT NULL);
    INSERT INTO customers (name, country)
        SELECT 'customer ' || g, (ARRAY['de', 'fr', 'us', 'jp'])[1 + g % 4]
        FROM generate_series(1, 4000) g;
    INSERT INTO orders (customer_id, state, placed_at, total)
        SELECT 1 + (g * 7919) % 4000,
               CASE WHEN g % 50 = 0 THEN 'pending' WHEN g % 50 = 1 THEN 'cancelled'
                    WHEN g % 10 = 2 THEN 'shipped' ELSE 'delivered' END,
               now() - (200000 - g) * interval '1 minute', (g % 500) + 0.99
        FROM generate_series(1, 200000) g;
    INSERT INTO shipments (order_id, carrier_id, shipped_at, weight_g)
        SELECT g, 1 + (g * 31) % 40, now() - (200000 - g) * interval '1 minute', g % 9000
        FROM generate_series(1, 200000) g;
    INSERT INTO order_events (order_id, kind, created_at, note)
        SELECT 1 + g / 20, (ARRAY['created', 'paid', 'packed', 'viewed', 'emailed'])[1 + g % 5],
               now() - (200000 - g) * interval '1 minute', 'event ' || g
        FROM generate_series(0, 199999) g;
    -- A sample as large as the tables: ANALYZE reads every row, so the statistics, and the
    -- plans the advisor compares, are the same in every run (a 30,000-row sample made the
    -- join-side choice flip between runs).
    SET default_statistics_target = 10000;
    ANALYZE;";

fn shop_db(prefix: &str) -> Db {
    let db = Db::fresh(prefix);
    db.sql(SHOP_SCHEMA);
    db
}

/// The orders a customer has pending, newest first: the partial index's query.
const PENDING: &str = "SELECT id, total, placed_at FROM orders WHERE customer_id = $1 AND state = $2 ORDER BY placed_at DESC LIMIT 20";

/// A capture as brisk proxy writes it with `log_parameters = true`: one line per execution,
/// with its values and time. Each took 400 ms (a sequential scan on a busy server): enough
/// that the indexes' write overhead, charged for the 200,000 rows the schema just inserted,
/// does not outweigh what they save.
fn capture(dir: &Path, query: &str, params: &[Vec<String>]) -> String {
    let text: String = params
        .iter()
        .enumerate()
        .map(|(i, values)| {
            serde_json::json!({
                "query": query, "params": values, "calls": 1, "total_ms": 400.0,
                "session": "conn-1", "order": i + 1,
            })
            .to_string()
                + "\n"
        })
        .collect();
    let path = dir.join("capture.jsonl");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn partial_on_state(report: &Value) -> Option<String> {
    recommended(report)
        .into_iter()
        .find(|sql| sql.contains("WHERE state"))
}

#[test]
fn a_capture_whose_calls_all_pass_one_state_gets_a_partial_index_in_its_migration() {
    let db = shop_db("advise_partial_capture");
    let dir = tempfile::tempdir().unwrap();
    // Thirty customers, every call for their pending orders: more value sets than the five
    // examples brisk plans with.
    let params: Vec<Vec<String>> = (1..=30)
        .map(|c| vec![(c * 131).to_string(), "pending".to_string()])
        .collect();
    let workload = capture(dir.path(), PENDING, &params);
    let out = dir.path().join("migrations");
    let report = advise(
        &db.url(),
        &["--workload", &workload, "--write", out.to_str().unwrap()],
    );
    let partial = partial_on_state(&report)
        .unwrap_or_else(|| panic!("no partial index: {:#?}", recommended(&report)));
    assert!(
        partial.contains("ON public.orders USING btree (customer_id, placed_at DESC")
            && partial.contains("WHERE state = 'pending'"),
        "{partial}"
    );
    // The migration builds exactly that, and it runs.
    let up: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".up.sql"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let file = up
        .iter()
        .find(|text| text.contains("WHERE state = 'pending'"))
        .unwrap_or_else(|| panic!("no migration with the partial index: {up:#?}"));
    db.sql(file);
    let built = db.sql(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'orders'::regclass AND indpred IS NOT NULL;",
    );
    assert!(built.contains("WHERE (state = 'pending'::text)"), "{built}");
    // With values, nothing is conditional.
    assert!(findings(&report, "advise.partial").is_empty());
}

#[test]
fn a_sql_file_with_one_state_gets_the_partial_index_too() {
    let db = shop_db("advise_partial_sql");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("queries.sql");
    let text: String = (1..=12)
        .map(|c| {
            format!(
                "SELECT id, total, placed_at FROM orders WHERE customer_id = {} AND state = 'cancelled' ORDER BY placed_at DESC LIMIT 20;\n",
                c * 97
            )
        })
        .collect();
    std::fs::write(&sql, text).unwrap();
    let report = advise(&db.url(), &["--workload", sql.to_str().unwrap()]);
    let partial = partial_on_state(&report)
        .unwrap_or_else(|| panic!("no partial index: {:#?}", recommended(&report)));
    assert!(partial.contains("WHERE state = 'cancelled'"), "{partial}");
}

#[test]
fn a_state_that_changes_between_calls_or_a_key_column_gets_no_partial_index() {
    let db = shop_db("advise_partial_absent");
    let dir = tempfile::tempdir().unwrap();
    // The first five calls pass 'pending', the sixth another state: past the examples brisk
    // plans with, the value sets still say the state is not fixed.
    let mut params: Vec<Vec<String>> = (1..=5)
        .map(|c| vec![(c * 131).to_string(), "pending".to_string()])
        .collect();
    params.push(vec!["17".to_string(), "cancelled".to_string()]);
    let workload = capture(dir.path(), PENDING, &params);
    let report = advise(&db.url(), &["--workload", &workload]);
    assert!(
        partial_on_state(&report).is_none(),
        "{:#?}",
        recommended(&report)
    );
    assert!(
        !recommended(&report).is_empty(),
        "the query still gets an index"
    );

    // Every call for the same customer: a key, not a filter (4,000 distinct values).
    let params: Vec<Vec<String>> = (0..10)
        .map(|_| vec!["42".to_string(), "delivered".to_string()])
        .collect();
    let query = "SELECT id, total FROM orders WHERE customer_id = $1 AND state <> $2 ORDER BY placed_at DESC LIMIT 20";
    let workload = capture(dir.path(), query, &params);
    let report = advise(&db.url(), &["--workload", &workload]);
    assert!(
        recommended(&report)
            .iter()
            .all(|sql| !sql.contains("WHERE customer_id")),
        "{:#?}",
        recommended(&report)
    );
}

#[test]
fn without_values_a_rare_state_is_conditional_advice_from_pg_stats() {
    let db = shop_db("advise_partial_conditional");
    let dir = tempfile::tempdir().unwrap();
    // As pg_stat_statements records it: no values, calls and mean time only.
    let path = dir.path().join("statements.jsonl");
    std::fs::write(
        &path,
        format!(
            "{}\n{}\n",
            serde_json::json!({"query": PENDING, "calls": 50000, "mean_ms": 15.0}),
            serde_json::json!({"query": "SELECT id FROM orders WHERE customer_id = $1 ORDER BY placed_at DESC LIMIT $2", "calls": 50000, "mean_ms": 14.0}),
        ),
    )
    .unwrap();
    let report = advise(&db.url(), &["--workload", path.to_str().unwrap()]);
    assert!(
        partial_on_state(&report).is_none(),
        "no partial index without values"
    );
    let conditional = findings(&report, "advise.partial");
    assert_eq!(conditional.len(), 1, "{conditional:#?}");
    let advice = conditional[0];
    assert_eq!(advice["subject"], "public.orders");
    let title = advice["title"].as_str().unwrap();
    assert!(title.starts_with("Conditional:"), "{title}");
    // 'pending' and 'cancelled' keep 2% of the rows each: about 50 times smaller.
    assert!(
        title.contains("state = 'pending'") || title.contains("state = 'cancelled'"),
        "{title}"
    );
    let share = evidence(advice, "size of the partial index against the full one");
    assert!((1.0..=3.5).contains(&share), "{share}");
    let fix = advice["fix"]["apply"].as_str().unwrap();
    assert!(fix.contains("WHERE state = '"), "{fix}");
    assert!(!fix.contains("(customer_id, state"), "{fix}");
    assert!(advice["fix"]["note"]
        .as_str()
        .unwrap()
        .starts_with("Conditional"));

    // customer_id has 4,000 values: a key, never a partial index's filter.
    assert!(conditional
        .iter()
        .all(|f| !f["title"].as_str().unwrap().contains("customer_id =")));
}

#[test]
fn a_join_inner_side_gets_one_index_for_its_join_key_and_its_own_filter() {
    let db = shop_db("advise_join_side");
    let dir = tempfile::tempdir().unwrap();
    // A customer's orders, each probed for its events of one kind since a date: the events
    // are the inner side of a nested loop, filtered by their own kind and time. (With
    // `now() - interval $3` brisk plans for the last day, and then the recent events drive
    // the join instead.)
    let path = dir.path().join("statements.jsonl");
    std::fs::write(
        &path,
        format!(
            "{}\n{}\n",
            serde_json::json!({"query": "SELECT o.id, e.created_at FROM orders o JOIN order_events e ON e.order_id = o.id WHERE o.customer_id = $1 AND e.kind = $2 AND e.created_at > $3", "calls": 20000, "mean_ms": 30.0}),
            serde_json::json!({"query": "SELECT s.order_id, s.weight_g FROM shipments s JOIN orders o ON o.id = s.order_id WHERE s.carrier_id = $1 AND s.shipped_at > now() - ($2 || $3)::interval", "calls": 20000, "mean_ms": 30.0}),
        ),
    )
    .unwrap();
    let report = advise(&db.url(), &["--workload", path.to_str().unwrap()]);
    let all = recommended(&report);
    let events = all
        .iter()
        .find(|sql| sql.contains("ON public.order_events"))
        .unwrap_or_else(|| panic!("no index on order_events: {all:#?}"));
    assert!(
        events.contains("order_id") && events.contains("created_at") && events.contains("kind"),
        "one index for the join key and the filter: {events}"
    );
    // The carrier's recent shipments drive the join: equality column first, then the range.
    assert!(
        all.iter()
            .any(|sql| sql.contains("ON public.shipments USING btree (carrier_id, shipped_at")),
        "{all:#?}"
    );
}

#[test]
fn a_join_side_reached_by_its_primary_key_gets_no_composite() {
    let db = shop_db("advise_join_side_absent");
    let dir = tempfile::tempdir().unwrap();
    // Each order has one customer, found by its primary key: a composite on the customer's
    // own filter column adds nothing to the probe.
    let path = dir.path().join("statements.jsonl");
    std::fs::write(
        &path,
        format!(
            "{}\n",
            serde_json::json!({"query": "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.customer_id = $1 AND c.country = $2", "calls": 20000, "mean_ms": 20.0}),
        ),
    )
    .unwrap();
    let report = advise(&db.url(), &["--workload", path.to_str().unwrap()]);
    let all = recommended(&report);
    assert!(
        all.iter().all(|sql| !sql.contains("ON public.customers")),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|sql| sql.contains("ON public.orders USING btree (customer_id")),
        "{all:#?}"
    );
}

#[test]
fn a_full_text_configuration_lost_to_normalization_is_assumed_and_said() {
    let db = shop_db("advise_fts_config");
    let dir = tempfile::tempdir().unwrap();
    // pg_stat_statements prints to_tsvector('english', note) as to_tsvector($1, note).
    let path = dir.path().join("statements.jsonl");
    std::fs::write(
        &path,
        format!(
            "{}\n{}\n",
            serde_json::json!({"query": "SELECT id FROM order_events WHERE to_tsvector($1, note) @@ plainto_tsquery($2, $3) LIMIT $4", "calls": 20000, "mean_ms": 60.0}),
            // The one-argument form depends on a setting: it cannot be indexed at all.
            serde_json::json!({"query": "SELECT id FROM customers WHERE to_tsvector(name) @@ plainto_tsquery($1)", "calls": 20000, "mean_ms": 60.0}),
        ),
    )
    .unwrap();
    let report = advise(&db.url(), &["--workload", path.to_str().unwrap()]);
    let fts: Vec<&Value> = findings(&report, "advise.index")
        .into_iter()
        .filter(|f| f["fix"]["apply"].as_str().unwrap().contains("to_tsvector"))
        .collect();
    assert_eq!(fts.len(), 1, "{fts:#?}");
    let config = db.sql("SHOW default_text_search_config;");
    let config = config.trim().trim_start_matches("pg_catalog.");
    assert!(
        fts[0]["fix"]["apply"]
            .as_str()
            .unwrap()
            .contains(&format!("USING gin ((to_tsvector('{config}', note)))")),
        "{:#}",
        fts[0]
    );
    assert!(fts[0]["detail"].as_str().unwrap().contains(&format!(
        "brisk assumed the database's default_text_search_config, '{config}'"
    )));
}
