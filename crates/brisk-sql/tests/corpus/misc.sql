-- Anti-patterns and syntax that is hard to lex, split, normalize or
-- fingerprint. Each statement is valid PostgreSQL 16 syntax. Written for
-- brisk.

-- anti-pattern: SELECT * of a wide table from an admin list page
SELECT * FROM orders;

-- anti-pattern: UPDATE without WHERE (whole-table rewrite)
UPDATE accounts SET balance = 0;

-- anti-pattern: DELETE without WHERE
DELETE FROM audit_log;

-- anti-pattern: deep OFFSET pagination
SELECT id, title, created_at FROM posts ORDER BY created_at DESC LIMIT 20 OFFSET 5000;

-- anti-pattern: leading-wildcard LIKE (no btree index can help)
SELECT id, email FROM users WHERE email LIKE '%@example.org';

-- anti-pattern: function on an indexed column
SELECT id FROM users WHERE lower(email) = 'ana@example.com';

-- anti-pattern: date() on a timestamp column in WHERE
SELECT count(*) FROM orders WHERE date(created_at) = '2024-11-05';

-- anti-pattern: NOT IN over a subquery that may yield NULL
SELECT id, name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders);

-- anti-pattern: OR across different columns
SELECT id FROM users WHERE first_name = 'Sam' OR last_name = 'Sam' OR nickname = 'Sam';

-- anti-pattern: count(*) > 0 to test existence
SELECT count(*) > 0 AS has_orders FROM orders WHERE customer_id = 42;

-- anti-pattern: counting rows to decide existence via CASE
SELECT CASE WHEN count(*) > 0 THEN true ELSE false END FROM sessions WHERE user_id = 42 AND revoked = false;

-- anti-pattern: ORDER BY random() to pick one row
SELECT id, body FROM quotes ORDER BY random() LIMIT 1;

-- anti-pattern: implicit cross join (missing join condition)
SELECT o.id, c.name FROM orders o, customers c WHERE o.total > 100;

-- anti-pattern: comparing a text column to an integer literal
SELECT id FROM contacts WHERE phone = '5551234' OR zip::int = 75001;

-- anti-pattern: full-table count for a badge
SELECT count(*) FROM events;

-- dollar-quoted PL/pgSQL function body with a named tag and semicolons inside
CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$fn$;

-- trigger using the function above
CREATE TRIGGER conversations_touch BEFORE UPDATE ON conversations FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- SQL-language function with an anonymous $$ body and a nested single-quoted string
CREATE OR REPLACE FUNCTION slugify(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT trim(both '-' from regexp_replace(lower(t), '[^a-z0-9]+', '-', 'g'));
$$;

-- DO block
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT indexrelid::regclass AS idx FROM pg_index WHERE NOT indisvalid LOOP
        RAISE NOTICE 'invalid index: %', r.idx;
    END LOOP;
END
$$;

-- dollar-quoted literal whose tag lets it contain $$
SELECT $outer$ contains $$ and ' and ; inside $outer$ AS s;

-- escape string with a backslash-escaped quote, tab, newline and unicode escape
SELECT E'it\'s', E'tab\there\nnewline', E'caf\u00e9', 'it''s';

-- Unicode-escaped identifier (U&"d\0061t\+000061" is "data") and string with a custom UESCAPE
SELECT U&"d\0061t\+000061" FROM raw_events WHERE label = U&'d!0061t!+000061' UESCAPE '!';

-- nested block comments, which PostgreSQL allows
SELECT /* outer /* inner */ still outer */ 1 AS one;

-- quoted identifiers containing double quotes, spaces and a semicolon
SELECT "weird""col", "with space", "semi;colon" FROM "odd""table" WHERE "weird""col" <> 'x;y';

-- a semicolon inside a string and inside a block comment
SELECT 'a;b' AS v, /* ; */ 2 AS w;

-- adjacent string constants separated by a newline are concatenated
SELECT 'foo'
'bar' AS foobar;

-- non-decimal and underscored integer literals (PostgreSQL 16)
SELECT 0x1F, 0o17, 0b101, 1_000_000, 1.5e-3, .5, 5., B'1010', X'1F';

-- typed literals and casts in every spelling
SELECT int4 '42', date '2024-11-05', timestamp with time zone '2024-11-05 10:00+01', CAST('3.14' AS numeric(10,2)), '1'::bigint, '\xDEADBEEF'::bytea;

-- COPY a table out as CSV
COPY users (id, email, created_at) TO STDOUT WITH (FORMAT csv, HEADER true, FORCE_QUOTE (email));

-- COPY from a server-side file with options
COPY staging_events FROM '/var/lib/postgresql/import/events.csv' WITH (FORMAT csv, DELIMITER ';', NULL '', HEADER match);

-- EXPLAIN with options
EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) SELECT * FROM orders WHERE customer_id = 42 ORDER BY created_at DESC LIMIT 10;

-- VACUUM with options
VACUUM (VERBOSE, ANALYZE) orders;

-- VACUUM FULL (rewrites the table under an exclusive lock)
VACUUM FULL audit_log;

-- ANALYZE one column
ANALYZE VERBOSE orders (customer_id, created_at);

-- CREATE INDEX CONCURRENTLY with a partial predicate and INCLUDE
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_open ON orders (customer_id, created_at DESC) INCLUDE (total) WHERE status = 'open' AND deleted_at IS NULL;

-- expression index with an operator class and a storage parameter
CREATE INDEX CONCURRENTLY idx_users_email_lower ON users USING btree (lower(email) text_pattern_ops) WITH (fillfactor = 90);

-- REINDEX CONCURRENTLY
REINDEX INDEX CONCURRENTLY idx_orders_open;

-- ALTER TABLE: add a column with a default
ALTER TABLE orders ADD COLUMN IF NOT EXISTS channel text NOT NULL DEFAULT 'web';

-- ALTER TABLE: change a type with USING
ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2) USING total::numeric(12,2);

-- ALTER TABLE: add a foreign key without validating, then validate
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;

-- ALTER TABLE: validate the constraint later
ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;

-- ALTER TABLE: per-table autovacuum settings
ALTER TABLE events SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.005);

-- LATERAL join: three newest orders per customer
SELECT c.id, c.name, o.id AS order_id, o.total FROM customers c CROSS JOIN LATERAL (SELECT id, total FROM orders WHERE orders.customer_id = c.id ORDER BY created_at DESC LIMIT 3) o;

-- LEFT JOIN LATERAL ... ON true with a set-returning function
SELECT p.id, t.tag, t.ord FROM posts p LEFT JOIN LATERAL unnest(p.tags) WITH ORDINALITY AS t(tag, ord) ON true;

-- recursive CTE over a tree with a depth limit and cycle detection (PostgreSQL 14+ CYCLE clause)
WITH RECURSIVE tree(id, parent_id, name, depth) AS (
    SELECT id, parent_id, name, 0 FROM categories WHERE parent_id IS NULL
    UNION ALL
    SELECT c.id, c.parent_id, c.name, t.depth + 1 FROM categories c JOIN tree t ON c.parent_id = t.id WHERE t.depth < 10
) CYCLE id SET is_cycle USING path
SELECT id, name, depth FROM tree WHERE NOT is_cycle ORDER BY depth, name;

-- DISTINCT ON: latest status per order
SELECT DISTINCT ON (order_id) order_id, status, changed_at FROM order_status_history ORDER BY order_id, changed_at DESC;

-- GROUPING SETS
SELECT region, product, sum(amount) AS total, GROUPING(region, product) AS g FROM sales GROUP BY GROUPING SETS ((region, product), (region), ());

-- ROLLUP and CUBE
SELECT date_trunc('month', sold_at) AS month, region, sum(amount) FROM sales GROUP BY ROLLUP (1, region) ORDER BY 1, 2;

-- CUBE
SELECT region, channel, count(*) FROM sales GROUP BY CUBE (region, channel);

-- aggregate FILTER (WHERE ...)
SELECT customer_id, count(*) FILTER (WHERE status = 'paid') AS paid, count(*) FILTER (WHERE status = 'refunded') AS refunded, sum(total) FILTER (WHERE created_at > now() - interval '30 days') AS last_30d FROM orders GROUP BY customer_id;

-- ordered-set and ordered aggregates
SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95, string_agg(DISTINCT route, ', ' ORDER BY route) AS routes, array_agg(status ORDER BY created_at DESC) FROM request_log;

-- window functions with a named window and a frame
SELECT day, revenue, avg(revenue) OVER w AS avg7, lag(revenue) OVER (ORDER BY day) AS prev FROM daily_revenue WINDOW w AS (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW);

-- BETWEEN SYMMETRIC and NOT BETWEEN
SELECT id FROM readings WHERE value BETWEEN SYMMETRIC 10 AND 2 AND taken_at NOT BETWEEN '2024-01-01' AND '2024-01-31';

-- IS DISTINCT FROM / IS NOT DISTINCT FROM
SELECT id FROM profiles WHERE nickname IS DISTINCT FROM display_name OR manager_id IS NOT DISTINCT FROM NULL;

-- arrays: constructor, literal, slice, ANY/ALL, containment
SELECT ARRAY[1,2], '{a,b}'::text[], (ARRAY[10,20,30,40])[2:3], 3 = ANY('{1,2,3}'::int[]), 5 > ALL (ARRAY[1,2,3]), ARRAY['x','y'] <@ '{x,y,z}'::text[];

-- multi-dimensional array literal and array_length
SELECT '{{1,2},{3,4}}'::int[][], array_length('{{1,2},{3,4}}'::int[], 1), cardinality(ARRAY[]::int[]);

-- intervals and date arithmetic
SELECT INTERVAL '1 day', now() - interval '7 days', current_date + 1, interval '1 year 2 months 3 days 04:05:06', '2024-03-31'::date - interval '1 month', INTERVAL '90' DAY;

-- time zones and extract
SELECT created_at AT TIME ZONE 'Europe/Paris', extract(epoch FROM now() - created_at), date_part('dow', created_at), to_char(created_at, 'YYYY-MM-DD"T"HH24:MI') FROM orders LIMIT 5;

-- sequences
SELECT nextval('orders_id_seq'), currval('orders_id_seq'), setval('orders_id_seq', 1000, false);

-- random() and generate_series
SELECT g AS n, random() AS r, floor(random() * 100)::int AS bucket FROM generate_series(1, 10) AS g;

-- row-locking clauses
SELECT id, balance FROM accounts WHERE id = 7 FOR SHARE;

-- row-locking clauses: FOR NO KEY UPDATE / FOR KEY SHARE OF specific tables, NOWAIT
SELECT a.id, c.id FROM accounts a JOIN customers c ON c.id = a.customer_id WHERE a.id = 7 FOR NO KEY UPDATE OF a NOWAIT FOR KEY SHARE OF c;

-- data-modifying CTE: move expired rows to an archive table
WITH d AS (DELETE FROM sessions WHERE expires_at < now() - interval '30 days' RETURNING *) INSERT INTO sessions_archive SELECT * FROM d;

-- data-modifying CTE chain: insert then use the new ids
WITH new_order AS (INSERT INTO orders (customer_id, total) VALUES (42, 99.50) RETURNING id), items AS (INSERT INTO order_items (order_id, sku, qty) SELECT new_order.id, v.sku, v.qty FROM new_order, (VALUES ('A-1', 2), ('B-7', 1)) AS v(sku, qty) RETURNING order_id) SELECT count(*) FROM items;

-- MERGE (PostgreSQL 15+)
MERGE INTO inventory AS i USING incoming_stock AS s ON i.sku = s.sku WHEN MATCHED AND s.qty = 0 THEN DELETE WHEN MATCHED THEN UPDATE SET qty = i.qty + s.qty WHEN NOT MATCHED THEN INSERT (sku, qty) VALUES (s.sku, s.qty);

-- UPDATE ... FROM and DELETE ... USING
UPDATE orders o SET status = 'vip' FROM customers c WHERE c.id = o.customer_id AND c.tier = 'gold';

-- DELETE ... USING
DELETE FROM order_items oi USING orders o WHERE oi.order_id = o.id AND o.status = 'cancelled';

-- INSERT DEFAULT VALUES and multi-column ON CONFLICT with a WHERE on the conflict target
INSERT INTO counters DEFAULT VALUES RETURNING id;

-- ON CONFLICT with a partial unique index inference clause
INSERT INTO subscriptions (user_id, plan) VALUES (42, 'pro') ON CONFLICT (user_id) WHERE cancelled_at IS NULL DO UPDATE SET plan = EXCLUDED.plan;

-- VALUES as a table, row comparisons, IN over row values
SELECT v.id, v.name FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) AS v(id, name) WHERE (v.id, v.name) IN ((1, 'a'), (3, 'c'));

-- set operations
(SELECT user_id FROM logins WHERE at > now() - interval '1 day') INTERSECT (SELECT user_id FROM purchases) EXCEPT ALL (SELECT user_id FROM banned_users);

-- join types
SELECT * FROM a NATURAL JOIN b FULL OUTER JOIN c USING (id) CROSS JOIN d;

-- FETCH FIRST ... WITH TIES and NULLS LAST
SELECT player, score FROM scores ORDER BY score DESC NULLS LAST FETCH FIRST 3 ROWS WITH TIES;

-- TABLESAMPLE
SELECT count(*) * 100 AS estimate FROM events TABLESAMPLE SYSTEM (1) REPEATABLE (42);

-- ROWS FROM with several set-returning functions
SELECT * FROM ROWS FROM (generate_series(1, 3), unnest(ARRAY['a', 'b'])) AS t(n, s);

-- collations, system columns, regex and pattern operators, schema-qualified operator
SELECT ctid, xmin, name FROM products WHERE name ~* '^pro' AND sku !~~ 'TMP%' AND id OPERATOR(pg_catalog.=) 7 ORDER BY name COLLATE "C";

-- JSONB operators
SELECT data -> 'user' ->> 'id', data #> '{a,b}', data #>> '{a,b,0}', data ? 'k', data ?| array['a','b'], data ?& array['a','b'], data @> '{"ok":true}', data - 'secret', jsonb_path_query_first(data, '$.items[*] ? (@.qty > 1)') FROM docs;

-- SQL/JSON predicate and constructors (PostgreSQL 16)
SELECT payload IS JSON OBJECT AS is_obj, JSON_OBJECT('id' VALUE id, 'tags' VALUE tags), JSON_ARRAY(1, 'two', NULL ABSENT ON NULL) FROM raw_events;

-- trigram distance ordering (pg_trgm) and full-text with a configuration cast
SELECT name, name <-> 'postgre' AS dist FROM products WHERE to_tsvector('simple'::regconfig, name) @@ to_tsquery('simple', 'post:*') ORDER BY dist LIMIT 5;

-- explicit positional parameters with casts in a hand-built statement
SELECT id FROM orders WHERE customer_id = $1::bigint AND created_at >= $2::timestamptz AND status = ANY($3::text[]);

-- PREPARE / EXECUTE / DEALLOCATE
PREPARE find_order (bigint) AS SELECT * FROM orders WHERE id = $1;

-- EXECUTE a prepared statement
EXECUTE find_order(42);

-- DEALLOCATE
DEALLOCATE find_order;

-- cursors
DECLARE big_export NO SCROLL CURSOR WITH HOLD FOR SELECT id, payload FROM events ORDER BY id;

-- FETCH from a cursor
FETCH FORWARD 1000 FROM big_export;

-- CLOSE a cursor
CLOSE big_export;

-- session settings
SET search_path TO app, public;

-- session settings
SET LOCAL lock_timeout = '2s';

-- session settings
RESET statement_timeout;

-- session settings
SHOW work_mem;

-- explicit lock
LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE NOWAIT;

-- TRUNCATE with identity reset and cascade
TRUNCATE TABLE staging_events, staging_users RESTART IDENTITY CASCADE;

-- partitioned table DDL
CREATE TABLE metrics (id bigint GENERATED ALWAYS AS IDENTITY, taken_at timestamptz NOT NULL, value double precision, PRIMARY KEY (id, taken_at)) PARTITION BY RANGE (taken_at);

-- partition DDL
CREATE TABLE metrics_2024_11 PARTITION OF metrics FOR VALUES FROM ('2024-11-01') TO ('2024-12-01');

-- materialized view and concurrent refresh
CREATE MATERIALIZED VIEW daily_revenue AS SELECT date_trunc('day', created_at)::date AS day, sum(total) AS revenue FROM orders GROUP BY 1 WITH NO DATA;

-- concurrent refresh
REFRESH MATERIALIZED VIEW CONCURRENTLY daily_revenue;

-- extended statistics
CREATE STATISTICS IF NOT EXISTS orders_city_zip (dependencies, ndistinct) ON city, zip FROM orders;

-- extensions, comments, grants
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

-- COMMENT ON with an escaped quote
COMMENT ON COLUMN orders.total IS 'Order total in the customer''s currency';

-- GRANT
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA app TO app_rw;

-- procedure and CALL
CREATE PROCEDURE purge_old(days int) LANGUAGE sql AS $$ DELETE FROM audit_log WHERE at < now() - make_interval(days => days) $$;

-- CALL
CALL purge_old(90);

-- pg_sleep and conditional expressions
SELECT pg_sleep(0.05), coalesce(NULL, 'x'), nullif(0, 0), greatest(1, 5, 3), least(2, 4), CASE status WHEN 'a' THEN 1 WHEN 'b' THEN 2 ELSE 0 END FROM (SELECT 'a'::text AS status) s;

-- TPC-H Q15 as the specification writes it, statement 1 of 3: create the revenue view
create view revenue0 (supplier_no, total_revenue) as
	select
		l_suppkey,
		sum(l_extendedprice * (1 - l_discount))
	from
		lineitem
	where
		l_shipdate >= date '1996-01-01'
		and l_shipdate < date '1996-01-01' + interval '3 month'
	group by
		l_suppkey;

-- TPC-H Q15 as the specification writes it, statement 2 of 3: the query over the view
select s_suppkey, s_name, s_address, s_phone, total_revenue from supplier, revenue0 where s_suppkey = supplier_no and total_revenue = (select max(total_revenue) from revenue0) order by s_suppkey;

-- TPC-H Q15 as the specification writes it, statement 3 of 3: drop the view
drop view revenue0;
