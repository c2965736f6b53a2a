-- Queries implied by the five seed performance reports in shared/seed-reports/
-- (000 chatbot, 001 health agent, 002 RAG chatbot, 003 Reddit bot,
-- 004 search/network app), written for brisk as each backend's driver would
-- send them:
--   000 chatbot       SQLAlchemy (sync) + psycopg2 -> literals, schema "chatbot"
--   001 health agent  raw SQL on psycopg 3 AsyncConnectionPool -> $n (server-side binding)
--   002 RAG chatbot   async SQLAlchemy + asyncpg -> $n::TYPE bind casts
--   003 Reddit bot    SQLAlchemy (sync) + psycopg2 -> literals
--   004 search app    async SQLAlchemy + psycopg 3 -> $n::TYPE bind casts
-- The monitoring queries in reports 000 and 001 select "tablename" and
-- "indexname" from pg_stat_user_indexes, columns that view does not have
-- (they are relname and indexrelname); they are written here with the real
-- column names, aliased to the names the reports used.

-- seed 000 (chatbot): user conversations, served by idx_conversations_user_active (user_id, is_archived, updated_at DESC) WHERE is_archived = FALSE
SELECT chatbot.conversations.id, chatbot.conversations.uuid, chatbot.conversations.user_id, chatbot.conversations.title, chatbot.conversations.is_archived, chatbot.conversations.is_pinned, chatbot.conversations.created_at, chatbot.conversations.updated_at FROM chatbot.conversations WHERE chatbot.conversations.user_id = 17 AND chatbot.conversations.is_archived = false ORDER BY chatbot.conversations.updated_at DESC LIMIT 20;

-- seed 000 (chatbot): pinned conversations, served by idx_conversations_user_pinned (partial)
SELECT chatbot.conversations.id, chatbot.conversations.title, chatbot.conversations.updated_at FROM chatbot.conversations WHERE chatbot.conversations.user_id = 17 AND chatbot.conversations.is_pinned = true ORDER BY chatbot.conversations.updated_at DESC;

-- seed 000 (chatbot): conversation by uuid
SELECT chatbot.conversations.id, chatbot.conversations.user_id, chatbot.conversations.title FROM chatbot.conversations WHERE chatbot.conversations.uuid = '0b6e4c1a-7f3d-4d9a-b5e2-91c8a3f0d7e6'::uuid;

-- seed 000 (chatbot): trigram title search, served by idx_conversations_title_trgm (GIN gin_trgm_ops)
SELECT chatbot.conversations.id, chatbot.conversations.title, chatbot.conversations.updated_at FROM chatbot.conversations WHERE chatbot.conversations.user_id = 17 AND chatbot.conversations.title ILIKE '%tax return%' ORDER BY chatbot.conversations.updated_at DESC LIMIT 20;

-- seed 000 (chatbot): latest messages of a conversation, served by idx_messages_conv_created (conversation_id, created_at DESC)
SELECT chatbot.messages.id, chatbot.messages.conversation_id, chatbot.messages.role, chatbot.messages.content, chatbot.messages.sequence_number, chatbot.messages.is_edited, chatbot.messages.created_at FROM chatbot.messages WHERE chatbot.messages.conversation_id = 4410 ORDER BY chatbot.messages.created_at DESC LIMIT 50;

-- seed 000 (chatbot): messages in order, served by idx_messages_conv_sequence (conversation_id, sequence_number)
SELECT chatbot.messages.id, chatbot.messages.role, chatbot.messages.content, chatbot.messages.sequence_number FROM chatbot.messages WHERE chatbot.messages.conversation_id = 4410 AND chatbot.messages.sequence_number > 120 ORDER BY chatbot.messages.sequence_number;

-- seed 000 (chatbot): edited messages, served by partial idx_messages_edited WHERE is_edited = TRUE
SELECT chatbot.messages.id, chatbot.messages.content FROM chatbot.messages WHERE chatbot.messages.conversation_id = 4410 AND chatbot.messages.is_edited = true;

-- seed 000 (chatbot): full-text message search, served by idx_messages_content_search GIN (to_tsvector('english', content))
SELECT chatbot.messages.id, chatbot.messages.conversation_id, chatbot.messages.content FROM chatbot.messages JOIN chatbot.conversations ON chatbot.conversations.id = chatbot.messages.conversation_id WHERE chatbot.conversations.user_id = 17 AND to_tsvector('english', chatbot.messages.content) @@ plainto_tsquery('english', 'refund deadline') ORDER BY chatbot.messages.created_at DESC LIMIT 20;

-- seed 000 (chatbot): the substring search the report says that GIN index "optimizes" (a tsvector index cannot serve ILIKE)
SELECT chatbot.messages.id, chatbot.messages.content FROM chatbot.messages WHERE chatbot.messages.content ILIKE '%refund%' ORDER BY chatbot.messages.created_at DESC LIMIT 20;

-- seed 000 (chatbot): N+1 before the fix, step 1: list the user's conversations
SELECT chatbot.conversations.id, chatbot.conversations.title FROM chatbot.conversations WHERE chatbot.conversations.user_id = 17;

-- seed 000 (chatbot): N+1 before the fix, step 2: conv.messages lazy load, once per conversation
SELECT chatbot.messages.id AS chatbot_messages_id, chatbot.messages.conversation_id AS chatbot_messages_conversation_id, chatbot.messages.role AS chatbot_messages_role, chatbot.messages.content AS chatbot_messages_content FROM chatbot.messages WHERE 4410 = chatbot.messages.conversation_id;

-- seed 000 (chatbot): N+1 before the fix, step 2 again for the next conversation (same shape, different literal)
SELECT chatbot.messages.id AS chatbot_messages_id, chatbot.messages.conversation_id AS chatbot_messages_conversation_id, chatbot.messages.role AS chatbot_messages_role, chatbot.messages.content AS chatbot_messages_content FROM chatbot.messages WHERE 4412 = chatbot.messages.conversation_id;

-- seed 000 (chatbot): after the fix, load_with_messages() selectinload second query
SELECT chatbot.messages.conversation_id AS chatbot_messages_conversation_id, chatbot.messages.id AS chatbot_messages_id, chatbot.messages.role AS chatbot_messages_role, chatbot.messages.content AS chatbot_messages_content, chatbot.messages.created_at AS chatbot_messages_created_at FROM chatbot.messages WHERE chatbot.messages.conversation_id IN (4410, 4412, 4415, 4420, 4431);

-- seed 000 (chatbot): BulkOperations.bulk_insert_dicts(Message, message_list) -> one multi-row INSERT per batch
INSERT INTO chatbot.messages (conversation_id, role, content, sequence_number, is_edited, created_at) VALUES (4410, 'user', 'What did I spend on travel?', 121, false, '2024-12-02T10:00:00'::timestamp), (4410, 'assistant', 'About 1,240 EUR across 3 trips.', 122, false, '2024-12-02T10:00:02'::timestamp), (4410, 'user', 'Break it down by trip', 123, false, '2024-12-02T10:00:15'::timestamp);

-- seed 000 (chatbot): BulkOperations.bulk_update_dicts(Message, rows) -> executemany of one UPDATE per row
UPDATE chatbot.messages SET content='About 1,250 EUR across 3 trips.', is_edited=true WHERE chatbot.messages.id = 982211;

-- seed 000 (chatbot): memory by user, newest first, served by idx_memory_user_created (user_id, created_at DESC)
SELECT chatbot.memory.id, chatbot.memory.question, chatbot.memory.answer, chatbot.memory.tags, chatbot.memory.importance, chatbot.memory.created_at FROM chatbot.memory WHERE chatbot.memory.user_id = 17 ORDER BY chatbot.memory.created_at DESC LIMIT 50;

-- seed 000 (chatbot): memory full-text search over question and answer combined
SELECT chatbot.memory.id, chatbot.memory.question, chatbot.memory.answer FROM chatbot.memory WHERE chatbot.memory.user_id = 17 AND to_tsvector('english', coalesce(chatbot.memory.question, '') || ' ' || coalesce(chatbot.memory.answer, '')) @@ plainto_tsquery('english', 'passport renewal') LIMIT 10;

-- seed 000 (chatbot): memory question-only search, served by its own tsvector index
SELECT chatbot.memory.id, chatbot.memory.question FROM chatbot.memory WHERE to_tsvector('english', chatbot.memory.question) @@ plainto_tsquery('english', 'allergy');

-- seed 000 (chatbot): memory tag containment, served by idx_memory_tags GIN on the array
SELECT chatbot.memory.id, chatbot.memory.question, chatbot.memory.tags FROM chatbot.memory WHERE chatbot.memory.user_id = 17 AND chatbot.memory.tags @> ARRAY['travel', 'documents'];

-- seed 000 (chatbot): most important memories, served by the partial DESC index WHERE importance IS NOT NULL
SELECT chatbot.memory.id, chatbot.memory.question, chatbot.memory.importance FROM chatbot.memory WHERE chatbot.memory.user_id = 17 AND chatbot.memory.importance IS NOT NULL ORDER BY chatbot.memory.importance DESC LIMIT 10;

-- seed 000 (chatbot): files of a conversation
SELECT chatbot.files.id, chatbot.files.filename, chatbot.files.file_type, chatbot.files.is_processed FROM chatbot.files WHERE chatbot.files.conversation_id = 4410;

-- seed 000 (chatbot): file lookup by name, served by the filename GIN gin_trgm_ops index
SELECT chatbot.files.id, chatbot.files.filename FROM chatbot.files WHERE chatbot.files.user_id = 17 AND chatbot.files.filename ILIKE '%invoice%';

-- seed 000 (chatbot): processed files of a type, served by partial idx_files_processed WHERE is_processed = TRUE
SELECT chatbot.files.id, chatbot.files.filename FROM chatbot.files WHERE chatbot.files.user_id = 17 AND chatbot.files.file_type = 'pdf' AND chatbot.files.is_processed = true;

-- seed 000 (chatbot): login by username, served by the unique index
SELECT chatbot.users.id, chatbot.users.username, chatbot.users.email, chatbot.users.password_hash, chatbot.users.is_active FROM chatbot.users WHERE chatbot.users.username = 'mira';

-- seed 000 (chatbot): active users, served by partial idx_users_active WHERE is_active = TRUE
SELECT count(*) AS count_1 FROM chatbot.users WHERE chatbot.users.is_active = true;

-- seed 000 (chatbot): log_query_plan() helper
EXPLAIN ANALYZE SELECT chatbot.conversations.id, chatbot.conversations.title FROM chatbot.conversations WHERE chatbot.conversations.user_id = 17 AND chatbot.conversations.is_archived = false ORDER BY chatbot.conversations.updated_at DESC LIMIT 20;

-- seed 000 (chatbot): ConnectionPoolMonitor.get_active_connections()
SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active';

-- seed 000 (chatbot): ConnectionPoolMonitor.get_idle_connections()
SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state IN ('idle', 'idle in transaction');

-- seed 000 (chatbot): ConnectionPoolMonitor.get_connection_info()
SELECT pid, usename, application_name, client_addr, state, backend_start, xact_start, state_change, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = current_database() ORDER BY backend_start;

-- seed 000 (chatbot): ConnectionPoolMonitor.get_long_running_queries(threshold_seconds=5)
SELECT pid, now() - query_start AS duration, state, left(query, 200) AS query FROM pg_stat_activity WHERE state <> 'idle' AND query_start IS NOT NULL AND now() - query_start > interval '5 seconds' ORDER BY duration DESC;

-- seed 000 (chatbot): ConnectionPoolMonitor.kill_connection(pid)
SELECT pg_terminate_backend(48213);

-- seed 000 (chatbot): pool utilization as a share of max_connections (input to the 0-100 health score)
SELECT count(*) AS used, current_setting('max_connections')::int AS max_conn, round(100.0 * count(*) / current_setting('max_connections')::int, 1) AS pct FROM pg_stat_activity;

-- seed 000 (chatbot): weekly unused-index check (report's columns tablename/indexname mapped to relname/indexrelname)
SELECT schemaname, relname AS tablename, indexrelname AS indexname, idx_scan FROM pg_stat_user_indexes WHERE schemaname = 'chatbot' AND idx_scan = 0;

-- seed 000 (chatbot): monthly table size / bloat check
SELECT schemaname, tablename, pg_size_pretty(pg_total_relation_size(schemaname||'.'||tablename)) AS size FROM pg_tables WHERE schemaname = 'chatbot' ORDER BY pg_total_relation_size(schemaname||'.'||tablename) DESC;

-- seed 000 (chatbot): index bloat monitoring (pgstattuple's pgstatindex leaf density per index)
SELECT i.indexrelid::regclass AS index_name, pg_size_pretty(pg_relation_size(i.indexrelid)) AS index_size, s.avg_leaf_density, s.leaf_fragmentation FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam CROSS JOIN LATERAL pgstatindex(i.indexrelid) AS s WHERE am.amname = 'btree' AND c.relnamespace = 'chatbot'::regnamespace ORDER BY s.avg_leaf_density ASC;

-- seed 000 (chatbot): daily maintenance
ANALYZE;

-- seed 000 (chatbot): weekly maintenance
VACUUM ANALYZE;

-- seed 000 (chatbot): monthly maintenance
REINDEX DATABASE chatbot_db;

-- seed 000 (chatbot): optimize_indexes.sql, composite partial index
CREATE INDEX idx_conversations_user_active ON chatbot.conversations (user_id, is_archived, updated_at DESC) WHERE is_archived = FALSE;

-- seed 000 (chatbot): optimize_indexes.sql, expression GIN index for full-text search
CREATE INDEX idx_messages_content_search ON chatbot.messages USING gin (to_tsvector('english', content));

-- seed 001 (health agent): get_conversation_history(user_id, limit=20), served by the covering index INCLUDE (role, content, message_type, metadata)
SELECT role, content, message_type, metadata, timestamp FROM conversation_history WHERE user_id = $1 ORDER BY timestamp DESC LIMIT $2;

-- seed 001 (health agent): save a conversation turn
INSERT INTO conversation_history (user_id, role, content, message_type, metadata, timestamp) VALUES ($1, $2, $3, $4, $5, now());

-- seed 001 (health agent): recent food entries, served by partial idx_food_entries_user_date_range
SELECT * FROM food_entries WHERE user_id = $1 AND timestamp > NOW() - INTERVAL '7 days' ORDER BY timestamp DESC;

-- seed 001 (health agent): food analytics GROUP BY, served by idx_food_entries_user_name
SELECT food_name, count(*) AS times_eaten, sum(calories) AS total_calories, avg(calories) AS avg_calories FROM food_entries WHERE user_id = $1 AND timestamp >= $2 GROUP BY food_name ORDER BY times_eaten DESC LIMIT 10;

-- seed 001 (health agent): reminder scheduler tick, served by partial idx_reminders_next_execution
SELECT id, user_id, message, next_execution, recurrence FROM reminders WHERE active = true AND next_execution <= now() ORDER BY next_execution LIMIT 100;

-- seed 001 (health agent): reschedule a reminder after it fired
UPDATE reminders SET next_execution = next_execution + interval '1 day', last_sent_at = now() WHERE id = $1;

-- seed 001 (health agent): user lookup by Telegram id, served by partial idx_users_telegram_id_active
SELECT id, telegram_id, username, subscription_status, timezone FROM users WHERE telegram_id = $1 AND subscription_status = 'active';

-- seed 001 (health agent): XP leaderboard, served by covering idx_user_gamification_xp_desc
SELECT user_id, xp, level, streak_days FROM user_gamification ORDER BY xp DESC LIMIT 10;

-- seed 001 (health agent): award XP
UPDATE user_gamification SET xp = xp + $1, updated_at = now() WHERE user_id = $2 RETURNING xp, level;

-- seed 001 (health agent): 017_performance_indexes.sql, covering index
CREATE INDEX idx_conversation_history_user_timestamp_covering ON conversation_history(user_id, timestamp DESC) INCLUDE (role, content, message_type, metadata);

-- seed 001 (health agent): rollback migration
DROP INDEX IF EXISTS idx_conversation_history_user_timestamp_covering;

-- seed 001 (health agent): verification, index usage (report's tablename/indexname mapped to relname/indexrelname)
SELECT schemaname, relname AS tablename, indexrelname AS indexname, idx_scan, idx_tup_read, idx_tup_fetch FROM pg_stat_user_indexes WHERE schemaname = 'public' AND indexrelname LIKE 'idx_%' ORDER BY idx_scan DESC;

-- seed 001 (health agent): verification, index size
SELECT relname AS tablename, indexrelname AS indexname, pg_size_pretty(pg_relation_size(indexrelid)) AS index_size FROM pg_stat_user_indexes WHERE schemaname = 'public' AND indexrelname LIKE 'idx_%' ORDER BY pg_relation_size(indexrelid) DESC;

-- seed 001 (health agent): verification, unused indexes
SELECT schemaname, relname AS tablename, indexrelname AS indexname, idx_scan FROM pg_stat_user_indexes WHERE schemaname = 'public' AND indexrelname LIKE 'idx_%' AND idx_scan = 0 ORDER BY pg_relation_size(indexrelid) DESC;

-- seed 001 (health agent): index build progress
SELECT now()::TIME, a.query, p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total FROM pg_stat_progress_create_index p JOIN pg_stat_activity a ON p.pid = a.pid;

-- seed 001 (health agent): plan check after deploying the covering index
EXPLAIN ANALYZE SELECT role, content, message_type, metadata, timestamp FROM conversation_history WHERE user_id = 'test_user' ORDER BY timestamp DESC LIMIT 20;

-- seed 002 (RAG chatbot): session validation, served by ix_user_sessions_session_id
SELECT user_sessions.id, user_sessions.session_id, user_sessions.user_id, user_sessions.created_at, user_sessions.expires_at FROM user_sessions WHERE user_sessions.session_id = $1::VARCHAR AND user_sessions.expires_at > $2::TIMESTAMP WITHOUT TIME ZONE;

-- seed 002 (RAG chatbot): conversations of a session, served by ix_conversations_user_session_id
SELECT conversations.id, conversations.user_session_id, conversations.created_at, conversations.expires_at FROM conversations WHERE conversations.user_session_id = $1::INTEGER ORDER BY conversations.created_at DESC;

-- seed 002 (RAG chatbot): history endpoint, page of 50 with OFFSET (page - 1) * 50
SELECT messages.id, messages.conversation_id, messages.role, messages.content, messages.timestamp FROM messages WHERE messages.conversation_id = $1::INTEGER ORDER BY messages.timestamp LIMIT $2::INTEGER OFFSET $3::INTEGER;

-- seed 002 (RAG chatbot): N+1 "bad" example, one messages query per conversation
SELECT messages.id, messages.conversation_id, messages.role, messages.content, messages.timestamp FROM messages WHERE messages.conversation_id = $1::INTEGER;

-- seed 002 (RAG chatbot): "good" example, selectinload(Conversation.messages)
SELECT messages.conversation_id AS messages_conversation_id, messages.id AS messages_id, messages.role AS messages_role, messages.content AS messages_content, messages.timestamp AS messages_timestamp FROM messages WHERE messages.conversation_id IN ($1::INTEGER, $2::INTEGER, $3::INTEGER);

-- seed 002 (RAG chatbot): db.add_all(citations); flush()
INSERT INTO citations (message_id, document_id, chunk_index, score) VALUES ($1::INTEGER, $2::INTEGER, $3::INTEGER, $4::FLOAT), ($5::INTEGER, $6::INTEGER, $7::INTEGER, $8::FLOAT), ($9::INTEGER, $10::INTEGER, $11::INTEGER, $12::FLOAT) RETURNING citations.id;

-- seed 002 (RAG chatbot): cleanup_expired_data(), sessions
DELETE FROM user_sessions WHERE user_sessions.expires_at <= $1::TIMESTAMP WITHOUT TIME ZONE;

-- seed 002 (RAG chatbot): cleanup_expired_data(), messages
DELETE FROM messages WHERE messages.expires_at <= $1::TIMESTAMP WITHOUT TIME ZONE;

-- seed 003 (Reddit bot): client's posts, served by idx_client_created (client_id, created_at)
SELECT matched_posts.id, matched_posts.client_id, matched_posts.subreddit, matched_posts.title, matched_posts.url, matched_posts.reviewed, matched_posts.created_at FROM matched_posts WHERE matched_posts.client_id = 3 ORDER BY matched_posts.created_at DESC LIMIT 100 OFFSET 0;

-- seed 003 (Reddit bot): review queue, served by idx_client_reviewed (client_id, reviewed)
SELECT matched_posts.id, matched_posts.title FROM matched_posts WHERE matched_posts.client_id = 3 AND matched_posts.reviewed = false ORDER BY matched_posts.created_at;

-- seed 003 (Reddit bot): subreddit activity, served by idx_subreddit_created (subreddit, created_at)
SELECT count(*) AS count_1 FROM matched_posts WHERE matched_posts.subreddit = 'postgresql' AND matched_posts.created_at >= '2024-10-29T00:00:00'::timestamp;

-- seed 003 (Reddit bot): posts with responses, joinedload(MatchedPost.responses) (one query instead of 101)
SELECT matched_posts.id AS matched_posts_id, matched_posts.client_id AS matched_posts_client_id, matched_posts.title AS matched_posts_title, matched_posts.created_at AS matched_posts_created_at, ai_responses_1.id AS ai_responses_1_id, ai_responses_1.post_id AS ai_responses_1_post_id, ai_responses_1.client_id AS ai_responses_1_client_id, ai_responses_1.body AS ai_responses_1_body, ai_responses_1.score AS ai_responses_1_score FROM matched_posts LEFT OUTER JOIN ai_responses AS ai_responses_1 ON matched_posts.id = ai_responses_1.post_id WHERE matched_posts.client_id = 3;

-- seed 003 (Reddit bot): N+1 before the fix, post.responses lazy load per post
SELECT ai_responses.id AS ai_responses_id, ai_responses.post_id AS ai_responses_post_id, ai_responses.body AS ai_responses_body, ai_responses.score AS ai_responses_score FROM ai_responses WHERE 88123 = ai_responses.post_id;

-- seed 003 (Reddit bot): responses of a post for a client, served by idx_responses_post_client
SELECT ai_responses.id, ai_responses.body, ai_responses.score FROM ai_responses WHERE ai_responses.post_id = 88123 AND ai_responses.client_id = 3;

-- seed 003 (Reddit bot): best responses, served by idx_responses_quality_score
SELECT ai_responses.id, ai_responses.post_id, ai_responses.score FROM ai_responses WHERE ai_responses.client_id = 3 AND ai_responses.created_at >= '2024-10-01T00:00:00'::timestamp ORDER BY ai_responses.score DESC LIMIT 20;

-- seed 003 (Reddit bot): analytics over a date range, served by idx_analytics_client_date
SELECT date_trunc('day', analytics_events.created_at) AS day, count(*) AS events FROM analytics_events WHERE analytics_events.client_id = 3 AND analytics_events.created_at BETWEEN '2024-10-01T00:00:00'::timestamp AND '2024-10-31T23:59:59'::timestamp GROUP BY date_trunc('day', analytics_events.created_at) ORDER BY day;

-- seed 003 (Reddit bot): events of one type for a client, served by idx_analytics_client_event
SELECT analytics_events.id, analytics_events.payload, analytics_events.created_at FROM analytics_events WHERE analytics_events.client_id = 3 AND analytics_events.event_type = 'response_posted' ORDER BY analytics_events.created_at DESC LIMIT 50;

-- seed 003 (Reddit bot): users with client, joinedload(User.client)
SELECT users.id AS users_id, users.email AS users_email, users.client_id AS users_client_id, clients_1.id AS clients_1_id, clients_1.name AS clients_1_name FROM users LEFT OUTER JOIN clients AS clients_1 ON clients_1.id = users.client_id;

-- seed 003 (Reddit bot): configs with client, joinedload(ClientConfig.client)
SELECT client_configs.id AS client_configs_id, client_configs.client_id AS client_configs_client_id, client_configs.keywords AS client_configs_keywords, client_configs.subreddits AS client_configs_subreddits, clients_1.id AS clients_1_id, clients_1.name AS clients_1_name FROM client_configs LEFT OUTER JOIN clients AS clients_1 ON clients_1.id = client_configs.client_id;

-- seed 003 (Reddit bot): check_database_health() / GET /health/ready
SELECT 1;

-- seed 003 (Reddit bot): GET /health/detailed database statistics
SELECT pg_database_size(current_database()) AS db_size, (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()) AS connections, (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active') AS active;

-- seed 003 (Reddit bot): add_performance_indexes.py, idempotent index creation
CREATE INDEX IF NOT EXISTS idx_responses_post_client ON ai_responses (post_id, client_id);

-- seed 004 (search app): paginate() items, sessions newest first
SELECT search_sessions.id, search_sessions.user_id, search_sessions.name, search_sessions.created_at FROM search_sessions ORDER BY search_sessions.created_at DESC LIMIT $1::INTEGER OFFSET $2::INTEGER;

-- seed 004 (search app): paginate() total
SELECT count(*) AS count_1 FROM (SELECT search_sessions.id AS id, search_sessions.user_id AS user_id, search_sessions.name AS name, search_sessions.created_at AS created_at FROM search_sessions) AS anon_1;

-- seed 004 (search app): paginate_cursor() next page
SELECT search_sessions.id, search_sessions.name, search_sessions.created_at FROM search_sessions WHERE search_sessions.created_at < $1::TIMESTAMP WITH TIME ZONE ORDER BY search_sessions.created_at DESC LIMIT $2::INTEGER;

-- seed 004 (search app): session with queries and results (3 queries total), the results step
SELECT search_results.query_id AS search_results_query_id, search_results.id AS search_results_id, search_results.url AS search_results_url, search_results.title AS search_results_title, search_results.rank AS search_results_rank FROM search_results WHERE search_results.query_id IN ($1::INTEGER, $2::INTEGER, $3::INTEGER, $4::INTEGER, $5::INTEGER, $6::INTEGER);

-- seed 004 (search app): bulk_insert(db, WebsiteContent, rows, return_ids=True)
INSERT INTO website_content (url, title, text_content, scraped_at) VALUES ($1::VARCHAR, $2::VARCHAR, $3::VARCHAR, $4::TIMESTAMP WITH TIME ZONE), ($5::VARCHAR, $6::VARCHAR, $7::VARCHAR, $8::TIMESTAMP WITH TIME ZONE) RETURNING website_content.id;

-- seed 004 (search app): bulk_update() with UPDATE ... CASE
UPDATE extracted_nouns SET count=CASE WHEN (extracted_nouns.id = $1::INTEGER) THEN $2::INTEGER WHEN (extracted_nouns.id = $3::INTEGER) THEN $4::INTEGER ELSE extracted_nouns.count END WHERE extracted_nouns.id IN ($5::INTEGER, $6::INTEGER);

-- seed 004 (search app): bulk_upsert() with INSERT ... ON CONFLICT DO UPDATE
INSERT INTO entities (name, entity_type, mention_count) VALUES ($1::VARCHAR, $2::VARCHAR, $3::INTEGER), ($4::VARCHAR, $5::VARCHAR, $6::INTEGER) ON CONFLICT (name, entity_type) DO UPDATE SET mention_count = entities.mention_count + excluded.mention_count;

-- seed 004 (search app): bulk_delete()
DELETE FROM search_results WHERE search_results.session_id IN ($1::INTEGER, $2::INTEGER, $3::INTEGER);

-- seed 004 (search app): full-text search over scraped pages, served by a GIN tsvector index
SELECT website_content.id, website_content.url, ts_rank(to_tsvector('english', website_content.text_content), plainto_tsquery('english', $1::VARCHAR)) AS rank FROM website_content WHERE to_tsvector('english', website_content.text_content) @@ plainto_tsquery('english', $2::VARCHAR) ORDER BY rank DESC LIMIT $3::INTEGER;

-- seed 004 (search app): network generation, top co-occurring nouns (aggregation pushed into the database)
SELECT a.noun AS source, b.noun AS target, count(*) AS weight FROM extracted_nouns AS a JOIN extracted_nouns AS b ON a.content_id = b.content_id AND a.noun < b.noun WHERE a.session_id = $1::INTEGER GROUP BY a.noun, b.noun HAVING count(*) >= $2::INTEGER ORDER BY weight DESC LIMIT $3::INTEGER;

-- seed 004 (search app): scraping job queue, recent pending jobs (partial index on recent data)
SELECT scraping_jobs.id, scraping_jobs.url, scraping_jobs.status FROM scraping_jobs WHERE scraping_jobs.status = $1::VARCHAR AND scraping_jobs.created_at > now() - interval '1 day' ORDER BY scraping_jobs.priority DESC, scraping_jobs.created_at LIMIT $2::INTEGER;

-- seed 004 (search app): network exports of a session
SELECT network_exports.id, network_exports.format, network_exports.node_count, network_exports.created_at FROM network_exports WHERE network_exports.session_id = $1::INTEGER ORDER BY network_exports.created_at DESC;

-- seed 004 (search app): monitoring command "Database connections"
SELECT count(*) FROM pg_stat_activity;

-- seed 004 (search app): connections per application_name (pool sizing check)
SELECT application_name, state, count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY application_name, state ORDER BY count(*) DESC;

-- seed 004 (search app): database setup step
ANALYZE;
