-- SQLAlchemy 2.x as it reaches the server. Two wire styles appear:
--   * psycopg2: %(name)s parameters are interpolated client-side, so values
--     arrive as literals;
--   * asyncpg and psycopg 3 (server-side binding): parameters arrive as $n,
--     and SQLAlchemy 2.0 renders a bind cast on each one ($1::INTEGER,
--     $2::VARCHAR, ...). Expanding IN parameters (__[POSTCOMPILE_x]) are
--     expanded to one $n per element before sending.
-- Unquoted lower-case identifiers, schema "chatbot" where the model sets one.
-- Written for brisk.

-- SQLAlchemy: psycopg2 dialect first-connect initialize()
select pg_catalog.version();

-- SQLAlchemy: psycopg2 dialect first-connect initialize()
select current_schema();

-- SQLAlchemy: psycopg2 dialect first-connect initialize()
show standard_conforming_strings;

-- SQLAlchemy: get_isolation_level() on first connect
show transaction isolation level;

-- SQLAlchemy: pool_pre_ping=True with psycopg2 (do_ping)
SELECT 1;

-- SQLAlchemy: psycopg2 implicit transaction start ("BEGIN (implicit)" in echo output)
BEGIN;

-- SQLAlchemy psycopg2: session.get(User, 5)
SELECT users.id AS users_id, users.username AS users_username, users.email AS users_email, users.is_active AS users_is_active, users.created_at AS users_created_at FROM chatbot.users WHERE users.id = 5;

-- SQLAlchemy psycopg2: session.scalars(select(Conversation).where(Conversation.user_id == 5, Conversation.is_archived == False).order_by(Conversation.updated_at.desc()).limit(20))
SELECT chatbot.conversations.id, chatbot.conversations.uuid, chatbot.conversations.user_id, chatbot.conversations.title, chatbot.conversations.is_archived, chatbot.conversations.is_pinned, chatbot.conversations.created_at, chatbot.conversations.updated_at FROM chatbot.conversations WHERE chatbot.conversations.user_id = 5 AND chatbot.conversations.is_archived = false ORDER BY chatbot.conversations.updated_at DESC 
 LIMIT 20;

-- SQLAlchemy psycopg2: legacy session.query(Conversation).filter_by(user_id=5).count()
SELECT count(*) AS count_1 
FROM (SELECT conversations.id AS conversations_id, conversations.user_id AS conversations_user_id, conversations.title AS conversations_title, conversations.updated_at AS conversations_updated_at 
FROM conversations 
WHERE conversations.user_id = 5) AS anon_1;

-- SQLAlchemy psycopg2: select(func.count()).select_from(stmt.subquery()) (pagination total)
SELECT count(*) AS count_1 FROM (SELECT search_sessions.id AS id, search_sessions.user_id AS user_id, search_sessions.created_at AS created_at FROM search_sessions WHERE search_sessions.user_id = 5) AS anon_1;

-- SQLAlchemy psycopg2: session.query(MatchedPost).options(joinedload(MatchedPost.responses)).filter(...).limit(50) (collection joinedload + LIMIT wraps an anon subquery)
SELECT anon_1.matched_posts_id AS anon_1_matched_posts_id, anon_1.matched_posts_client_id AS anon_1_matched_posts_client_id, anon_1.matched_posts_title AS anon_1_matched_posts_title, anon_1.matched_posts_created_at AS anon_1_matched_posts_created_at, ai_responses_1.id AS ai_responses_1_id, ai_responses_1.post_id AS ai_responses_1_post_id, ai_responses_1.body AS ai_responses_1_body, ai_responses_1.score AS ai_responses_1_score 
FROM (SELECT matched_posts.id AS matched_posts_id, matched_posts.client_id AS matched_posts_client_id, matched_posts.title AS matched_posts_title, matched_posts.created_at AS matched_posts_created_at 
FROM matched_posts 
WHERE matched_posts.client_id = 3 ORDER BY matched_posts.created_at DESC 
 LIMIT 50) AS anon_1 LEFT OUTER JOIN ai_responses AS ai_responses_1 ON anon_1.matched_posts_id = ai_responses_1.post_id ORDER BY anon_1.matched_posts_created_at DESC;

-- SQLAlchemy psycopg2: select(User).options(joinedload(User.client)) (many-to-one joinedload)
SELECT users.id, users.email, users.client_id, clients_1.id AS id_1, clients_1.name, clients_1.plan 
FROM users LEFT OUTER JOIN clients AS clients_1 ON clients_1.id = users.client_id;

-- SQLAlchemy psycopg2: selectinload(Conversation.messages) second query (IN list expanded from __[POSTCOMPILE_primary_keys])
SELECT chatbot.messages.conversation_id AS chatbot_messages_conversation_id, chatbot.messages.id AS chatbot_messages_id, chatbot.messages.role AS chatbot_messages_role, chatbot.messages.content AS chatbot_messages_content, chatbot.messages.created_at AS chatbot_messages_created_at 
FROM chatbot.messages 
WHERE chatbot.messages.conversation_id IN (101, 102, 103, 104, 105) ORDER BY chatbot.messages.sequence_number;

-- SQLAlchemy asyncpg: select(SearchSession).where(SearchSession.id == sid).options(selectinload(SearchSession.queries).selectinload(SearchQuery.results)) -- first query
SELECT search_sessions.id, search_sessions.user_id, search_sessions.name, search_sessions.created_at 
FROM search_sessions 
WHERE search_sessions.id = $1::INTEGER;

-- SQLAlchemy asyncpg: ... selectinload(SearchSession.queries) -- second query
SELECT search_queries.session_id AS search_queries_session_id, search_queries.id AS search_queries_id, search_queries.query_text AS search_queries_query_text, search_queries.created_at AS search_queries_created_at 
FROM search_queries 
WHERE search_queries.session_id IN ($1::INTEGER);

-- SQLAlchemy asyncpg: ... selectinload(SearchQuery.results) -- third query, one bind per parent key
SELECT search_results.query_id AS search_results_query_id, search_results.id AS search_results_id, search_results.url AS search_results_url, search_results.rank AS search_results_rank 
FROM search_results 
WHERE search_results.query_id IN ($1::INTEGER, $2::INTEGER, $3::INTEGER, $4::INTEGER);

-- SQLAlchemy asyncpg: select(Message).where(Message.conversation_id == cid).order_by(Message.created_at.desc()).offset(o).limit(50)
SELECT messages.id, messages.conversation_id, messages.role, messages.content, messages.timestamp, messages.expires_at 
FROM messages 
WHERE messages.conversation_id = $1::INTEGER ORDER BY messages.timestamp DESC 
 LIMIT $2::INTEGER OFFSET $3::INTEGER;

-- SQLAlchemy asyncpg: keyset pagination select(SearchSession).where(SearchSession.created_at < cursor).order_by(...desc()).limit(n)
SELECT search_sessions.id, search_sessions.name, search_sessions.created_at 
FROM search_sessions 
WHERE search_sessions.user_id = $1::INTEGER AND search_sessions.created_at < $2::TIMESTAMP WITHOUT TIME ZONE ORDER BY search_sessions.created_at DESC 
 LIMIT $3::INTEGER;

-- SQLAlchemy asyncpg: select(Conversation).where(Conversation.title.ilike(f'%{q}%'))
SELECT conversations.id, conversations.title, conversations.updated_at 
FROM conversations 
WHERE conversations.user_id = $1::INTEGER AND conversations.title ILIKE $2::VARCHAR ORDER BY conversations.updated_at DESC;

-- SQLAlchemy asyncpg: Conversation.title.icontains(q) (2.0 renders lower() LIKE '%' || lower(x) || '%')
SELECT conversations.id, conversations.title 
FROM conversations 
WHERE lower(conversations.title) LIKE '%' || lower($1::VARCHAR) || '%';

-- SQLAlchemy asyncpg: Message.content.match(q) with postgresql_regconfig='english'
SELECT messages.id, messages.content 
FROM messages 
WHERE to_tsvector('english', messages.content) @@ plainto_tsquery('english', $1::VARCHAR) ORDER BY messages.timestamp DESC 
 LIMIT $2::INTEGER;

-- SQLAlchemy asyncpg: ranked full-text search with func.ts_rank
SELECT documents.id, documents.title, ts_rank(to_tsvector('english', documents.body), websearch_to_tsquery('english', $1::VARCHAR)) AS rank 
FROM documents 
WHERE to_tsvector('english', documents.body) @@ websearch_to_tsquery('english', $2::VARCHAR) ORDER BY rank DESC 
 LIMIT $3::INTEGER;

-- SQLAlchemy asyncpg: Memory.tags.contains(['diet']) (ARRAY comparator -> @>)
SELECT memory.id, memory.question, memory.answer, memory.tags 
FROM memory 
WHERE memory.user_id = $1::INTEGER AND memory.tags @> $2::VARCHAR[];

-- SQLAlchemy asyncpg: Memory.tags.overlap(['sleep', 'stress']) (ARRAY comparator -> &&)
SELECT memory.id, memory.question 
FROM memory 
WHERE memory.tags && $1::VARCHAR[];

-- SQLAlchemy asyncpg: Memory.tags.any_(...) -> value = ANY (column)
SELECT memory.id FROM memory WHERE $1::VARCHAR = ANY (memory.tags);

-- SQLAlchemy psycopg 3: Event.payload['kind'].astext == 'click' (JSONB ->> with bound key)
SELECT events.id, events.payload, events.created_at 
FROM events 
WHERE (events.payload ->> $1::VARCHAR) = $2::VARCHAR ORDER BY events.created_at DESC;

-- SQLAlchemy psycopg 3: Event.payload['meta']['source'] via #>> path
SELECT events.id FROM events WHERE (events.payload #>> $1::VARCHAR[]) = $2::VARCHAR;

-- SQLAlchemy psycopg 3: Event.payload.has_key('error') and contains({...})
SELECT events.id FROM events WHERE events.payload ? $1::VARCHAR AND events.payload @> $2::JSONB;

-- SQLAlchemy asyncpg: select(Job).where(Job.status == 'queued').order_by(Job.run_at).limit(1).with_for_update(skip_locked=True)
SELECT scraping_jobs.id, scraping_jobs.url, scraping_jobs.status, scraping_jobs.run_at 
FROM scraping_jobs 
WHERE scraping_jobs.status = $1::VARCHAR ORDER BY scraping_jobs.run_at 
 LIMIT $2::INTEGER FOR UPDATE SKIP LOCKED;

-- SQLAlchemy psycopg2: session.get(Account, 7, with_for_update=True)
SELECT accounts.id AS accounts_id, accounts.balance AS accounts_balance 
FROM accounts 
WHERE accounts.id = 7 FOR UPDATE;

-- SQLAlchemy psycopg2: with_for_update(of=Reminder, nowait=True) over a join
SELECT reminders.id, reminders.user_id, reminders.next_execution, users.telegram_id 
FROM reminders JOIN users ON users.id = reminders.user_id 
WHERE reminders.active = true AND reminders.next_execution <= '2024-11-05 09:00:00' FOR UPDATE OF reminders NOWAIT;

-- SQLAlchemy asyncpg: func.pg_advisory_xact_lock(key) before a critical section
SELECT pg_advisory_xact_lock($1::BIGINT) AS pg_advisory_xact_lock_1;

-- SQLAlchemy asyncpg: func.pg_try_advisory_lock(key)
SELECT pg_try_advisory_lock($1::BIGINT) AS pg_try_advisory_lock_1;

-- SQLAlchemy asyncpg: session.add(obj); await session.flush() (single INSERT ... RETURNING)
INSERT INTO conversations (user_session_id, title, created_at, expires_at) VALUES ($1::INTEGER, $2::VARCHAR, $3::TIMESTAMP WITHOUT TIME ZONE, $4::TIMESTAMP WITHOUT TIME ZONE) RETURNING conversations.id;

-- SQLAlchemy asyncpg: session.add_all(citations); flush() -> insertmanyvalues batch with sort_by_parameter_order
INSERT INTO citations (message_id, source_url, snippet) SELECT p0::INTEGER, p1::VARCHAR, p2::VARCHAR FROM (VALUES ($1::INTEGER, $2::VARCHAR, $3::VARCHAR, 0), ($4::INTEGER, $5::VARCHAR, $6::VARCHAR, 1), ($7::INTEGER, $8::VARCHAR, $9::VARCHAR, 2)) AS imp_sen(p0, p1, p2, sen_counter) ORDER BY sen_counter RETURNING citations.id, citations.id AS id__1;

-- SQLAlchemy psycopg2: session.execute(insert(Message), [dicts...]) / bulk_insert_mappings -> insertmanyvalues with literals
INSERT INTO chatbot.messages (conversation_id, role, content, sequence_number, created_at) VALUES (101, 'user', 'hello', 1, '2024-11-05T09:00:00.000000'::timestamp), (101, 'assistant', 'hi there', 2, '2024-11-05T09:00:01.250000'::timestamp), (101, 'user', 'what''s new?', 3, '2024-11-05T09:00:07.000000'::timestamp);

-- SQLAlchemy asyncpg: postgresql.insert(Tag).values(...).on_conflict_do_update(index_elements=['slug'], set_={'name': stmt.excluded.name}).returning(Tag.id)
INSERT INTO tags (name, slug) VALUES ($1::VARCHAR, $2::VARCHAR) ON CONFLICT (slug) DO UPDATE SET name = excluded.name RETURNING tags.id;

-- SQLAlchemy psycopg 3: bulk_upsert() helper -> multi-row INSERT ... ON CONFLICT ON CONSTRAINT ... DO UPDATE ... WHERE
INSERT INTO website_content (url, text_content, fetched_at) VALUES ($1::VARCHAR, $2::VARCHAR, $3::TIMESTAMP WITH TIME ZONE), ($4::VARCHAR, $5::VARCHAR, $6::TIMESTAMP WITH TIME ZONE) ON CONFLICT ON CONSTRAINT uq_website_content_url DO UPDATE SET text_content = excluded.text_content, fetched_at = excluded.fetched_at WHERE website_content.fetched_at < excluded.fetched_at;

-- SQLAlchemy asyncpg: postgresql.insert(...).on_conflict_do_nothing(index_elements=['entity_id', 'noun'])
INSERT INTO extracted_nouns (entity_id, noun, count) VALUES ($1::INTEGER, $2::VARCHAR, $3::INTEGER) ON CONFLICT (entity_id, noun) DO NOTHING;

-- SQLAlchemy psycopg2: session.execute(update(User).where(User.id == 5).values(last_seen=func.now())) (note SET col=value spacing)
UPDATE users SET last_seen=now() WHERE users.id = 5;

-- SQLAlchemy asyncpg: bulk_update() helper -> UPDATE ... SET x=CASE ... END WHERE id IN (...)
UPDATE website_content SET status=CASE WHEN (website_content.id = $1::INTEGER) THEN $2::VARCHAR WHEN (website_content.id = $3::INTEGER) THEN $4::VARCHAR WHEN (website_content.id = $5::INTEGER) THEN $6::VARCHAR END WHERE website_content.id IN ($7::INTEGER, $8::INTEGER, $9::INTEGER);

-- SQLAlchemy asyncpg: update(Conversation).where(...).values(...).returning(Conversation.updated_at)
UPDATE conversations SET title=$1::VARCHAR, updated_at=now() WHERE conversations.id = $2::INTEGER RETURNING conversations.updated_at;

-- SQLAlchemy asyncpg: TTL cleanup delete(Message).where(Message.expires_at <= now)
DELETE FROM messages WHERE messages.expires_at <= $1::TIMESTAMP WITHOUT TIME ZONE;

-- SQLAlchemy asyncpg: delete(SearchResult).where(SearchResult.id.in_(ids)) (expanding IN)
DELETE FROM search_results WHERE search_results.id IN ($1::INTEGER, $2::INTEGER, $3::INTEGER, $4::INTEGER, $5::INTEGER);

-- SQLAlchemy psycopg2: Column.in_([]) with an empty list (empty-set expression)
SELECT users.id, users.email FROM users WHERE users.id IN (SELECT CAST(NULL AS INTEGER) WHERE 1!=1);

-- SQLAlchemy psycopg2: select(exists().where(User.email == 'a@b.c'))
SELECT EXISTS (SELECT * 
FROM users 
WHERE users.email = 'a@b.c') AS anon_1;

-- SQLAlchemy asyncpg: CTE  recent = select(...).cte('recent_messages'); select(...).join(recent)
WITH recent_messages AS 
(SELECT messages.conversation_id AS conversation_id, max(messages.timestamp) AS last_at 
FROM messages 
WHERE messages.timestamp > $1::TIMESTAMP WITHOUT TIME ZONE GROUP BY messages.conversation_id)
 SELECT conversations.id, conversations.title, recent_messages.last_at 
FROM conversations JOIN recent_messages ON conversations.id = recent_messages.conversation_id ORDER BY recent_messages.last_at DESC 
 LIMIT $2::INTEGER;

-- SQLAlchemy psycopg2: recursive CTE (select(...).cte(recursive=True)) walking an entity graph
WITH RECURSIVE anon_1(id, parent_id, depth) AS 
(SELECT entities.id AS id, entities.parent_id AS parent_id, 0 AS depth 
FROM entities 
WHERE entities.id = 42 UNION ALL SELECT entities.id AS entities_id, entities.parent_id AS entities_parent_id, anon_1.depth + 1 AS anon_2 
FROM entities, anon_1 
WHERE entities.parent_id = anon_1.id AND anon_1.depth < 5)
 SELECT anon_1.id, anon_1.depth 
FROM anon_1;

-- SQLAlchemy asyncpg: func.row_number().over(partition_by=..., order_by=...desc()) in a subquery, top-3 per conversation
SELECT anon_1.id, anon_1.conversation_id, anon_1.content 
FROM (SELECT messages.id AS id, messages.conversation_id AS conversation_id, messages.content AS content, row_number() OVER (PARTITION BY messages.conversation_id ORDER BY messages.timestamp DESC) AS rn 
FROM messages 
WHERE messages.conversation_id IN ($1::INTEGER, $2::INTEGER, $3::INTEGER)) AS anon_1 
WHERE anon_1.rn <= $4::INTEGER;

-- SQLAlchemy psycopg2: leaderboard with func.rank().over(order_by=UserGamification.xp.desc())
SELECT user_gamification.user_id, user_gamification.xp, rank() OVER (ORDER BY user_gamification.xp DESC) AS anon_1 
FROM user_gamification ORDER BY user_gamification.xp DESC 
 LIMIT 10;

-- SQLAlchemy psycopg2: group_by with func.count and having
SELECT analytics_events.event_type, count(analytics_events.id) AS count_1 
FROM analytics_events 
WHERE analytics_events.client_id = 3 AND analytics_events.created_at >= '2024-10-06T00:00:00'::timestamp GROUP BY analytics_events.event_type 
HAVING count(analytics_events.id) > 10;

-- SQLAlchemy psycopg2: func.date_trunc('day', ...) time series with coalesce
SELECT date_trunc('day', ai_responses.created_at) AS day, count(*) AS n, coalesce(avg(ai_responses.score), 0) AS avg_score 
FROM ai_responses 
WHERE ai_responses.client_id = 3 GROUP BY date_trunc('day', ai_responses.created_at) ORDER BY day;

-- SQLAlchemy: nested session.begin_nested()
SAVEPOINT sa_savepoint_1;

-- SQLAlchemy: begin_nested() rolled back on IntegrityError
ROLLBACK TO SAVEPOINT sa_savepoint_1;

-- SQLAlchemy: begin_nested() committed
RELEASE SAVEPOINT sa_savepoint_1;

-- SQLAlchemy: session.commit()
COMMIT;

-- SQLAlchemy: session.rollback() / connection returned to pool with reset_on_return='rollback'
ROLLBACK;

-- SQLAlchemy asyncpg: connection.begin() with isolation_level='SERIALIZABLE'
BEGIN ISOLATION LEVEL SERIALIZABLE;

-- SQLAlchemy asyncpg: metadata.create_all -> has_table() check (ANY(ARRAY[...]) for relkind)
SELECT pg_catalog.pg_class.relname 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relname = $1::VARCHAR AND pg_catalog.pg_class.relkind = ANY (ARRAY[$2::VARCHAR, $3::VARCHAR, $4::VARCHAR, $5::VARCHAR, $6::VARCHAR]) AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND pg_catalog.pg_namespace.nspname != $7::VARCHAR;

-- SQLAlchemy (Alembic): MigrationContext.get_current_heads()
SELECT alembic_version.version_num 
FROM alembic_version;

-- SQLAlchemy (Alembic): stamp after upgrade
UPDATE alembic_version SET version_num='017_performance_indexes' WHERE alembic_version.version_num = '016_add_reminders';

-- SQLAlchemy (Alembic): op.create_index(..., postgresql_concurrently=True, postgresql_where=...) inside autocommit_block()
CREATE INDEX CONCURRENTLY idx_food_entries_user_date_range ON food_entries (user_id, timestamp DESC) WHERE timestamp > '2024-10-01 00:00:00+00'::timestamptz;

-- SQLAlchemy (Alembic): op.create_index(..., postgresql_using='gin', postgresql_ops={'title': 'gin_trgm_ops'})
CREATE INDEX idx_conversations_title_trgm ON chatbot.conversations USING gin (title gin_trgm_ops);

-- SQLAlchemy: text("EXPLAIN ANALYZE " + str(compiled)) from a log_query_plan() helper
EXPLAIN ANALYZE SELECT chatbot.conversations.id, chatbot.conversations.title FROM chatbot.conversations WHERE chatbot.conversations.user_id = 5 AND chatbot.conversations.is_archived = false ORDER BY chatbot.conversations.updated_at DESC LIMIT 20;

-- SQLAlchemy psycopg2: union_all of two selects, ordered by a label
SELECT matched_posts.id AS id, 'post' AS kind, matched_posts.created_at AS created_at 
FROM matched_posts 
WHERE matched_posts.client_id = 3 UNION ALL SELECT ai_responses.id AS id, 'response' AS kind, ai_responses.created_at AS created_at 
FROM ai_responses 
WHERE ai_responses.client_id = 3 ORDER BY created_at DESC 
 LIMIT 25;

-- SQLAlchemy asyncpg: select(...).distinct(Message.conversation_id) -> DISTINCT ON
SELECT DISTINCT ON (messages.conversation_id) messages.conversation_id, messages.id, messages.content 
FROM messages ORDER BY messages.conversation_id, messages.timestamp DESC;

-- SQLAlchemy asyncpg: lateral subquery join (select(...).lateral())
SELECT users.id, anon_1.id AS id_1, anon_1.title 
FROM users JOIN LATERAL (SELECT conversations.id AS id, conversations.title AS title 
FROM conversations 
WHERE conversations.user_id = users.id ORDER BY conversations.updated_at DESC 
 LIMIT $1::INTEGER) AS anon_1 ON true 
WHERE users.is_active = true;
