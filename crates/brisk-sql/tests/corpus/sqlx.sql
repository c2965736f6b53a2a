-- Hand-written SQL from Rust services using sqlx (query!/query_as! macros
-- and sqlx::query), sent as extended-protocol prepared statements with $n.
-- Includes sqlx's own migration bookkeeping, LISTEN/NOTIFY through
-- PgListener, COPY through copy_in_raw, and a SKIP LOCKED job queue.
-- Written for brisk.

-- sqlx: query_as!(User, "SELECT id, email, display_name, created_at FROM users WHERE id = $1", id).fetch_optional
SELECT id, email, display_name, created_at FROM users WHERE id = $1;

-- sqlx: query_as!(User, ... WHERE id = ANY($1), &ids[..]).fetch_all (one array parameter instead of an IN list)
SELECT id, email, display_name, created_at FROM users WHERE id = ANY($1);

-- sqlx: query!("SELECT id FROM documents WHERE owner_id = $1 AND NOT (id = ANY($2))")
SELECT id FROM documents WHERE owner_id = $1 AND NOT (id = ANY($2));

-- sqlx: query_as!(User, "INSERT ... RETURNING *").fetch_one
INSERT INTO users (email, display_name) VALUES ($1, $2) RETURNING *;

-- sqlx: query!("INSERT INTO follows ... ON CONFLICT DO NOTHING").execute
INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2) ON CONFLICT DO NOTHING;

-- sqlx: upsert with a typed conflict target and RETURNING (xmax = 0) AS inserted
INSERT INTO api_keys (user_id, name, hash) VALUES ($1, $2, $3) ON CONFLICT (user_id, name) DO UPDATE SET hash = EXCLUDED.hash, rotated_at = now() RETURNING id, (xmax = 0) AS inserted;

-- sqlx: bulk insert via UNNEST of bound arrays (the usual sqlx idiom for batches)
INSERT INTO events (user_id, kind, payload, created_at) SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::jsonb[], $4::timestamptz[]);

-- sqlx: bulk update via UNNEST join
UPDATE documents AS d SET title = u.title, updated_at = now() FROM UNNEST($1::bigint[], $2::text[]) AS u(id, title) WHERE d.id = u.id;

-- sqlx: keyset pagination with a row-value comparison
SELECT id, title, created_at FROM documents WHERE owner_id = $1 AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $4;

-- sqlx: query_scalar!("SELECT EXISTS(SELECT 1 FROM users WHERE email = $1)")
SELECT EXISTS(SELECT 1 FROM users WHERE email = $1) AS "exists!";

-- sqlx: query_scalar!(r#"SELECT count(*) AS "count!" FROM ..."#) (nullability override in the alias)
SELECT count(*) AS "count!" FROM documents WHERE owner_id = $1 AND deleted_at IS NULL;

-- sqlx: JSONB field access with a bound key and value
SELECT id, payload ->> 'kind' AS kind FROM events WHERE user_id = $1 AND payload ->> 'kind' = $2 ORDER BY created_at DESC LIMIT 100;

-- sqlx: jsonb_set update of one settings key
UPDATE users SET settings = jsonb_set(coalesce(settings, '{}'::jsonb), '{theme}', to_jsonb($2::text), true) WHERE id = $1;

-- sqlx: job queue dequeue, one job, SKIP LOCKED
UPDATE jobs SET status = 'running', locked_at = now(), attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE queue = $1 AND status = 'queued' AND run_at <= now() ORDER BY priority DESC, run_at ASC LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, queue, payload, attempts;

-- sqlx: job queue dequeue, batch via CTE
WITH next AS (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= now() ORDER BY run_at LIMIT $1 FOR UPDATE SKIP LOCKED) UPDATE jobs j SET status = 'running', locked_at = now() FROM next WHERE j.id = next.id RETURNING j.id, j.payload;

-- sqlx: job completion
UPDATE jobs SET status = 'done', finished_at = now() WHERE id = $1 AND status = 'running';

-- sqlx: job failure with exponential backoff
UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, run_at = now() + make_interval(secs => power(2, attempts)::int), last_error = $2 WHERE id = $1;

-- sqlx: reaper for jobs whose worker died
UPDATE jobs SET status = 'queued', locked_at = NULL WHERE status = 'running' AND locked_at < now() - interval '10 minutes';

-- sqlx: PgListener::listen("job_events")
LISTEN job_events;

-- sqlx: PgListener::listen_all(["cache_invalidate", "config"])
LISTEN "cache_invalidate";

-- sqlx: notify from a handler with a literal payload
NOTIFY job_events, 'job:81723:done';

-- sqlx: notify with bound channel and payload
SELECT pg_notify($1, $2);

-- sqlx: PgListener dropped / reset
UNLISTEN *;

-- sqlx: PgConnection::copy_in_raw header line (data follows on the wire, not in the SQL)
COPY events (user_id, kind, payload, created_at) FROM STDIN WITH (FORMAT csv, HEADER false);

-- sqlx: copy_in_raw with the binary format
COPY measurements (sensor_id, taken_at, value) FROM STDIN (FORMAT binary);

-- sqlx: copy_out_raw export
COPY (SELECT id, email, created_at FROM users WHERE created_at >= '2024-01-01') TO STDOUT WITH (FORMAT csv, HEADER true);

-- sqlx: pool test_before_acquire / health endpoint
SELECT 1;

-- sqlx: Transaction begin (pool.begin())
BEGIN;

-- sqlx: per-transaction timeout
SET LOCAL statement_timeout = '5s';

-- sqlx: row-level security tenant context
SELECT set_config('app.tenant_id', $1, true);

-- sqlx: advisory lock for a singleton task
SELECT pg_try_advisory_xact_lock($1);

-- sqlx: balance transfer, lock both rows in a stable order
SELECT id, balance FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE;

-- sqlx: nested Transaction::begin() on an open transaction
SAVEPOINT _sqlx_savepoint_1;

-- sqlx: nested transaction rollback
ROLLBACK TO SAVEPOINT _sqlx_savepoint_1;

-- sqlx: nested transaction commit
RELEASE SAVEPOINT _sqlx_savepoint_1;

-- sqlx: Transaction::commit
COMMIT;

-- sqlx: DELETE ... RETURNING for session cleanup
DELETE FROM sessions WHERE expires_at < now() RETURNING id;

-- sqlx migrate: ensure_migrations_table
CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
);

-- sqlx migrate: lock
SELECT pg_advisory_lock($1);

-- sqlx migrate: dirty_version
SELECT version FROM _sqlx_migrations WHERE success = false ORDER BY version LIMIT 1;

-- sqlx migrate: list_applied_migrations
SELECT version, checksum FROM _sqlx_migrations ORDER BY version;

-- sqlx migrate: apply, record the migration
INSERT INTO _sqlx_migrations ( version, description, success, checksum, execution_time ) VALUES ( $1, $2, TRUE, $3, -1 );

-- sqlx migrate: apply, record elapsed time
UPDATE _sqlx_migrations SET execution_time = $1 WHERE version = $2;

-- sqlx migrate: unlock
SELECT pg_advisory_unlock($1);

-- sqlx: type resolution for a user-defined type used in a query! macro
SELECT typname, typtype, typcategory, typrelid, typelem, typbasetype FROM pg_catalog.pg_type WHERE oid = $1;

-- sqlx: enum type lookup by name at describe time
SELECT oid FROM pg_catalog.pg_type WHERE typname ILIKE $1;
