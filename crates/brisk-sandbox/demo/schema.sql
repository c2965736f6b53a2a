-- The demo database of `brisk check`: a chat backend like the seed teams', with the problems
-- they found by hand planted in it. Each plant names the check that should find it.
--
-- Lines "-- brisk:step" split the script into steps that run in separate sessions: a session
-- flushes its statistics counters when it ends, so a VACUUM or ANALYZE in a later step sees
-- (and resets) the counts of the writes before it, as it would on a real server.
SELECT setseed(0.42);

CREATE TABLE users (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    name       text NOT NULL,
    is_active  boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO users (email, name, is_active, created_at)
SELECT 'user' || g || '@example.com', 'user ' || (g % 500), g % 10 <> 0,
       now() - (g || ' minutes')::interval
FROM generate_series(1, 5000) g;

-- fk.unindexed: conversations.user_id references users without an index.
CREATE TABLE conversations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    title       text NOT NULL,
    is_archived boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO conversations (user_id, title, is_archived, updated_at)
SELECT 1 + (random() * 4999)::int, 'conversation ' || g, random() < 0.2,
       now() - (random() * 1000 || ' hours')::interval
FROM generate_series(1, 20000) g;
-- index.unused: nothing ever filters on the title.
CREATE INDEX conversations_title_idx ON conversations (title);

CREATE TABLE messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    role            text NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO messages (conversation_id, role, body, created_at)
SELECT 1 + (random() * 19999)::int, CASE WHEN g % 2 = 0 THEN 'user' ELSE 'assistant' END,
       md5(g::text) || ' ' || md5((g * 7)::text) || ' ' || md5((g * 13)::text),
       now() - (random() * 1000 || ' hours')::interval
FROM generate_series(1, 200000) g;
-- index.redundant: the single-column index is a prefix of the two-column one.
CREATE INDEX messages_conversation_id_idx ON messages (conversation_id);
CREATE INDEX messages_conversation_id_created_at_idx ON messages (conversation_id, created_at);

CREATE TABLE files (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    filename   text NOT NULL,
    size_bytes bigint NOT NULL
);
INSERT INTO files (user_id, filename, size_bytes)
SELECT 1 + (g % 5000), 'file-' || g || '.pdf', (random() * 1e7)::bigint
FROM generate_series(1, 10000) g;
-- index.duplicate: two migrations created the same index under two names.
CREATE INDEX files_user_id_idx ON files (user_id);
CREATE INDEX files_user_id_idx1 ON files (user_id);

-- sequence.exhaustion: an int4 serial that has used 84% of its range.
CREATE TABLE orders (
    id         serial PRIMARY KEY,
    user_id    bigint NOT NULL,
    total      numeric(12, 2) NOT NULL
);
SELECT setval('orders_id_seq', 1800000000);
INSERT INTO orders (user_id, total)
SELECT 1 + (g % 5000), (random() * 100)::numeric(12, 2) FROM generate_series(1, 1000) g;
CREATE INDEX orders_user_id_idx ON orders (user_id);

-- table.bloat and index.bloat: every row rewritten twice, then vacuumed but not compacted.
CREATE TABLE events (
    id         bigint PRIMARY KEY,
    kind       text NOT NULL,
    payload    text NOT NULL,
    updated_at timestamptz NOT NULL
) WITH (autovacuum_enabled = false);
INSERT INTO events
SELECT g, 'kind' || (g % 20), md5(g::text) || md5((g + 1)::text), now()
FROM generate_series(1, 150000) g;
CREATE INDEX events_updated_at_idx ON events (updated_at);
UPDATE events SET updated_at = updated_at + interval '1 second';
UPDATE events SET updated_at = updated_at + interval '1 second';

-- vacuum.dead_tuples: most rows deleted, and autovacuum is off for the table.
CREATE TABLE sessions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL,
    token      text NOT NULL,
    expires_at timestamptz NOT NULL
) WITH (autovacuum_enabled = false);
INSERT INTO sessions (user_id, token, expires_at)
SELECT 1 + (g % 5000), md5(g::text), now() + ((g % 100) - 70 || ' days')::interval
FROM generate_series(1, 50000) g;

-- table.no_primary_key and vacuum.never_analyzed: an append-only log nobody analyzes.
CREATE TABLE audit_log (
    at     timestamptz NOT NULL DEFAULT now(),
    actor  bigint,
    action text NOT NULL
);
INSERT INTO audit_log (actor, action)
SELECT g % 5000, 'login' FROM generate_series(1, 20000) g;

-- brisk:step
VACUUM ANALYZE events;
ANALYZE users, conversations, messages, files, orders, sessions;

-- brisk:step
DELETE FROM sessions WHERE expires_at < now();
