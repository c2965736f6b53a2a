-- Django ORM (4.2/5.x) as psycopg sends it: the backend binds client-side, so
-- every value below is inlined as a literal by the driver before the text
-- reaches the server. App label "chat"; models User, Conversation, Message,
-- Tag, Attachment, Memory, Profile. Written for brisk.

-- Django: connection setup when settings.TIME_ZONE differs from the server (psycopg2 backend, Django < 4.2)
SET TIME ZONE 'UTC';

-- Django: connection setup, psycopg backend in Django 4.2+ (ensure_timezone)
SELECT set_config('TimeZone', 'UTC', false);

-- Django: CONN_HEALTH_CHECKS=True, is_usable() before reusing a persistent connection
SELECT 1;

-- Django: SessionStore.load() for the session cookie
SELECT "django_session"."session_key", "django_session"."session_data", "django_session"."expire_date" FROM "django_session" WHERE ("django_session"."expire_date" > '2024-11-05T09:14:22.318204+00:00'::timestamptz AND "django_session"."session_key" = 'x3n9qk1v0b7c2m5l8a4s6d0f1g3h5j7k') LIMIT 21;

-- Django: request.user -> User.objects.get(pk=...) (AuthenticationMiddleware)
SELECT "auth_user"."id", "auth_user"."password", "auth_user"."last_login", "auth_user"."is_superuser", "auth_user"."username", "auth_user"."first_name", "auth_user"."last_name", "auth_user"."email", "auth_user"."is_staff", "auth_user"."is_active", "auth_user"."date_joined" FROM "auth_user" WHERE "auth_user"."id" = 1842 LIMIT 21;

-- Django: user_logged_in signal -> update_last_login()
UPDATE "auth_user" SET "last_login" = '2024-11-05T09:14:22.412907+00:00'::timestamptz WHERE "auth_user"."id" = 1842;

-- Django: Conversation.objects.filter(user_id=..., is_archived=False).order_by('-updated_at')[:20]
SELECT "chat_conversation"."id", "chat_conversation"."uuid", "chat_conversation"."user_id", "chat_conversation"."title", "chat_conversation"."is_archived", "chat_conversation"."is_pinned", "chat_conversation"."created_at", "chat_conversation"."updated_at" FROM "chat_conversation" WHERE ("chat_conversation"."is_archived" = false AND "chat_conversation"."user_id" = 1842) ORDER BY "chat_conversation"."updated_at" DESC LIMIT 20;

-- Django: Conversation.objects.get(uuid=...) (UUIDField adapted as a uuid literal)
SELECT "chat_conversation"."id", "chat_conversation"."uuid", "chat_conversation"."user_id", "chat_conversation"."title", "chat_conversation"."is_archived", "chat_conversation"."is_pinned", "chat_conversation"."created_at", "chat_conversation"."updated_at" FROM "chat_conversation" WHERE "chat_conversation"."uuid" = '6f1c2a9e-8d4b-4c71-9a3e-0b5d7e2f1c84'::uuid LIMIT 21;

-- Django: Conversation.objects.filter(user=request.user, title__icontains='budget')
SELECT "chat_conversation"."id", "chat_conversation"."uuid", "chat_conversation"."user_id", "chat_conversation"."title", "chat_conversation"."is_archived", "chat_conversation"."is_pinned", "chat_conversation"."created_at", "chat_conversation"."updated_at" FROM "chat_conversation" WHERE ("chat_conversation"."user_id" = 1842 AND UPPER("chat_conversation"."title"::text) LIKE UPPER('%budget%')) ORDER BY "chat_conversation"."updated_at" DESC;

-- Django: Conversation.objects.filter(user_id=...).exists() (Django 4.2+)
SELECT 1 AS "a" FROM "chat_conversation" WHERE "chat_conversation"."user_id" = 1842 LIMIT 1;

-- Django: Conversation.objects.filter(user_id=...).exists() (Django <= 4.1 wrapped the constant)
SELECT (1) AS "a" FROM "chat_conversation" WHERE "chat_conversation"."user_id" = 1842 LIMIT 1;

-- Django: Conversation.objects.filter(user_id=..., is_archived=False).count()
SELECT COUNT(*) AS "__count" FROM "chat_conversation" WHERE ("chat_conversation"."is_archived" = false AND "chat_conversation"."user_id" = 1842);

-- Django: Paginator(Message.objects.filter(conversation_id=...).order_by('-created_at'), 50).page(3)
SELECT "chat_message"."id", "chat_message"."conversation_id", "chat_message"."role", "chat_message"."content", "chat_message"."sequence_number", "chat_message"."is_edited", "chat_message"."created_at" FROM "chat_message" WHERE "chat_message"."conversation_id" = 90311 ORDER BY "chat_message"."created_at" DESC LIMIT 50 OFFSET 100;

-- Django: Message.objects.select_related('conversation').filter(conversation__user_id=...)[:20]  (non-null FK -> INNER JOIN)
SELECT "chat_message"."id", "chat_message"."conversation_id", "chat_message"."role", "chat_message"."content", "chat_message"."sequence_number", "chat_message"."is_edited", "chat_message"."created_at", "chat_conversation"."id", "chat_conversation"."uuid", "chat_conversation"."user_id", "chat_conversation"."title", "chat_conversation"."is_archived", "chat_conversation"."is_pinned", "chat_conversation"."created_at", "chat_conversation"."updated_at" FROM "chat_message" INNER JOIN "chat_conversation" ON ("chat_message"."conversation_id" = "chat_conversation"."id") WHERE "chat_conversation"."user_id" = 1842 ORDER BY "chat_message"."created_at" DESC LIMIT 20;

-- Django: Attachment.objects.select_related('conversation', 'uploaded_by').get(pk=...)  (nullable FKs -> LEFT OUTER JOIN)
SELECT "chat_attachment"."id", "chat_attachment"."conversation_id", "chat_attachment"."uploaded_by_id", "chat_attachment"."filename", "chat_attachment"."file_type", "chat_attachment"."size_bytes", "chat_attachment"."is_processed", "chat_conversation"."id", "chat_conversation"."title", "auth_user"."id", "auth_user"."username" FROM "chat_attachment" LEFT OUTER JOIN "chat_conversation" ON ("chat_attachment"."conversation_id" = "chat_conversation"."id") LEFT OUTER JOIN "auth_user" ON ("chat_attachment"."uploaded_by_id" = "auth_user"."id") WHERE "chat_attachment"."id" = 5521 LIMIT 21;

-- Django: Conversation.objects.filter(user_id=...).prefetch_related('messages') -- second query, reverse FK IN list
SELECT "chat_message"."id", "chat_message"."conversation_id", "chat_message"."role", "chat_message"."content", "chat_message"."sequence_number", "chat_message"."is_edited", "chat_message"."created_at" FROM "chat_message" WHERE "chat_message"."conversation_id" IN (90311, 90307, 90244, 89990, 89712, 88105);

-- Django: Conversation.objects.prefetch_related('tags') -- M2M prefetch through the auto-created join table
SELECT ("chat_conversation_tags"."conversation_id") AS "_prefetch_related_val_conversation_id", "chat_tag"."id", "chat_tag"."name", "chat_tag"."slug" FROM "chat_tag" INNER JOIN "chat_conversation_tags" ON ("chat_tag"."id" = "chat_conversation_tags"."tag_id") WHERE "chat_conversation_tags"."conversation_id" IN (90311, 90307, 90244);

-- Django: Message.objects.filter(conversation__in=Conversation.objects.filter(user_id=...)) -- __in with a queryset becomes a subquery aliased U0
SELECT "chat_message"."id", "chat_message"."conversation_id", "chat_message"."role", "chat_message"."content", "chat_message"."created_at" FROM "chat_message" WHERE "chat_message"."conversation_id" IN (SELECT U0."id" FROM "chat_conversation" U0 WHERE U0."user_id" = 1842);

-- Django: Conversation.objects.annotate(has_unread=Exists(Message.objects.filter(conversation=OuterRef('pk'), read_at__isnull=True)))
SELECT "chat_conversation"."id", "chat_conversation"."title", EXISTS(SELECT 1 AS "a" FROM "chat_message" U0 WHERE (U0."conversation_id" = ("chat_conversation"."id") AND U0."read_at" IS NULL) LIMIT 1) AS "has_unread" FROM "chat_conversation" WHERE "chat_conversation"."user_id" = 1842 ORDER BY "chat_conversation"."updated_at" DESC;

-- Django 4.2+: Conversation.objects.filter(user_id=...).annotate(n=Count('messages')).order_by('-n') (GROUP BY collapsed to the pk, positional references)
SELECT "chat_conversation"."id", "chat_conversation"."title", "chat_conversation"."updated_at", COUNT("chat_message"."id") AS "n" FROM "chat_conversation" LEFT OUTER JOIN "chat_message" ON ("chat_conversation"."id" = "chat_message"."conversation_id") WHERE "chat_conversation"."user_id" = 1842 GROUP BY 1 ORDER BY 4 DESC;

-- Django 4.1: the same annotate(n=Count('messages')).order_by('-n'), grouped and ordered by expression
SELECT "chat_conversation"."id", "chat_conversation"."title", "chat_conversation"."updated_at", COUNT("chat_message"."id") AS "n" FROM "chat_conversation" LEFT OUTER JOIN "chat_message" ON ("chat_conversation"."id" = "chat_message"."conversation_id") WHERE "chat_conversation"."user_id" = 1842 GROUP BY "chat_conversation"."id" ORDER BY "n" DESC;

-- Django: Conversation.objects.annotate(last_msg=Subquery(Message.objects.filter(conversation=OuterRef('pk')).order_by('-created_at').values('content')[:1]))
SELECT "chat_conversation"."id", "chat_conversation"."title", (SELECT U0."content" FROM "chat_message" U0 WHERE U0."conversation_id" = ("chat_conversation"."id") ORDER BY U0."created_at" DESC LIMIT 1) AS "last_msg" FROM "chat_conversation" WHERE "chat_conversation"."user_id" = 1842;

-- Django: Message.objects.filter(conversation_id=...).values_list('id', flat=True)
SELECT "chat_message"."id" FROM "chat_message" WHERE "chat_message"."conversation_id" = 90311;

-- Django: Message.objects.filter(conversation_id=...).first()  (implicit ordering by pk)
SELECT "chat_message"."id", "chat_message"."conversation_id", "chat_message"."role", "chat_message"."content", "chat_message"."created_at" FROM "chat_message" WHERE "chat_message"."conversation_id" = 90311 ORDER BY "chat_message"."id" ASC LIMIT 1;

-- Django: Message.objects.filter(conversation_id=...).latest('created_at')
SELECT "chat_message"."id", "chat_message"."conversation_id", "chat_message"."role", "chat_message"."content", "chat_message"."created_at" FROM "chat_message" WHERE "chat_message"."conversation_id" = 90311 ORDER BY "chat_message"."created_at" DESC LIMIT 1;

-- Django: User.objects.filter(Q(email__iexact=s) | Q(username__iexact=s)).first()
SELECT "auth_user"."id", "auth_user"."username", "auth_user"."email", "auth_user"."is_active" FROM "auth_user" WHERE (UPPER("auth_user"."email"::text) = UPPER('Ana@Example.com') OR UPPER("auth_user"."username"::text) = UPPER('Ana@Example.com')) ORDER BY "auth_user"."id" ASC LIMIT 1;

-- Django: Conversation.objects.exclude(title__startswith='Draft').filter(deleted_at__isnull=True)
SELECT "chat_conversation"."id", "chat_conversation"."title" FROM "chat_conversation" WHERE (NOT ("chat_conversation"."title"::text LIKE 'Draft%' AND "chat_conversation"."title" IS NOT NULL) AND "chat_conversation"."deleted_at" IS NULL);

-- Django: Memory.objects.filter(tags__contains=['health', 'diet'])  (ArrayField, psycopg adapts the list to ARRAY[...])
SELECT "chat_memory"."id", "chat_memory"."user_id", "chat_memory"."question", "chat_memory"."answer", "chat_memory"."tags", "chat_memory"."importance", "chat_memory"."created_at" FROM "chat_memory" WHERE "chat_memory"."tags" @> ARRAY['health','diet']::varchar(50)[];

-- Django: Memory.objects.filter(tags__overlap=['sleep'])
SELECT "chat_memory"."id", "chat_memory"."question" FROM "chat_memory" WHERE ("chat_memory"."tags" && ARRAY['sleep']::varchar(50)[] AND "chat_memory"."user_id" = 1842);

-- Django: Event.objects.filter(payload__kind='click')  (JSONField key transform)
SELECT "chat_event"."id", "chat_event"."payload", "chat_event"."created_at" FROM "chat_event" WHERE ("chat_event"."payload" -> 'kind') = '"click"'::jsonb ORDER BY "chat_event"."created_at" DESC LIMIT 100;

-- Django: Message.objects.annotate(search=SearchVector('content')).filter(search=SearchQuery('refund policy'))
SELECT "chat_message"."id", "chat_message"."content", to_tsvector(COALESCE(("chat_message"."content")::text, '')) AS "search" FROM "chat_message" WHERE to_tsvector(COALESCE(("chat_message"."content")::text, '')) @@ (plainto_tsquery('refund policy'));

-- Django: Conversation.objects.annotate(similarity=TrigramSimilarity('title', q)).filter(similarity__gt=0.3)
SELECT "chat_conversation"."id", "chat_conversation"."title", SIMILARITY("chat_conversation"."title", 'quarterly budget') AS "similarity" FROM "chat_conversation" WHERE SIMILARITY("chat_conversation"."title", 'quarterly budget') > 0.3 ORDER BY 3 DESC;

-- Django: Message.objects.filter(created_at__year=2024).annotate(day=TruncDay('created_at')).values('day').annotate(c=Count('id'))
SELECT DATE_TRUNC('day', "chat_message"."created_at" AT TIME ZONE 'UTC') AS "day", COUNT("chat_message"."id") AS "c" FROM "chat_message" WHERE "chat_message"."created_at" BETWEEN '2024-01-01T00:00:00+00:00'::timestamptz AND '2024-12-31T23:59:59.999999+00:00'::timestamptz GROUP BY 1 ORDER BY 1 ASC;

-- Django: Message.objects.annotate(rn=Window(RowNumber(), partition_by=F('conversation_id'), order_by=F('created_at').desc())) via a subquery filter (Django 4.2+ QUALIFY emulation)
SELECT * FROM (SELECT "chat_message"."id" AS "col1", "chat_message"."conversation_id" AS "col2", "chat_message"."content" AS "col3", ROW_NUMBER() OVER (PARTITION BY "chat_message"."conversation_id" ORDER BY "chat_message"."created_at" DESC) AS "rn" FROM "chat_message" WHERE "chat_message"."conversation_id" IN (90311, 90307)) "qualify" WHERE "rn" <= 3;

-- Django: Profile.objects.select_for_update().get(user_id=...) inside transaction.atomic()
SELECT "chat_profile"."id", "chat_profile"."user_id", "chat_profile"."credits", "chat_profile"."updated_at" FROM "chat_profile" WHERE "chat_profile"."user_id" = 1842 LIMIT 21 FOR UPDATE;

-- Django: Job.objects.select_for_update(skip_locked=True).filter(status='queued').order_by('run_at')[:10]
SELECT "chat_job"."id", "chat_job"."kind", "chat_job"."payload", "chat_job"."run_at" FROM "chat_job" WHERE "chat_job"."status" = 'queued' ORDER BY "chat_job"."run_at" ASC LIMIT 10 FOR UPDATE SKIP LOCKED;

-- Django: Profile.objects.filter(user_id=...).update(credits=F('credits') - 1)
UPDATE "chat_profile" SET "credits" = ("chat_profile"."credits" - 1) WHERE "chat_profile"."user_id" = 1842;

-- Django: Conversation.objects.filter(pk=...).update(is_archived=True, updated_at=now())
UPDATE "chat_conversation" SET "is_archived" = true, "updated_at" = '2024-11-05T09:15:02.004118+00:00'::timestamptz WHERE "chat_conversation"."id" = 90311;

-- Django: conversation.save() on an existing row (UPDATE of every concrete field)
UPDATE "chat_conversation" SET "uuid" = '6f1c2a9e-8d4b-4c71-9a3e-0b5d7e2f1c84'::uuid, "user_id" = 1842, "title" = 'Quarterly budget review', "is_archived" = false, "is_pinned" = true, "created_at" = '2024-10-01T08:00:00+00:00'::timestamptz, "updated_at" = '2024-11-05T09:15:02.004118+00:00'::timestamptz WHERE "chat_conversation"."id" = 90311;

-- Django: Message.objects.bulk_update(msgs, ['content']) (CASE per row, cast on PostgreSQL)
UPDATE "chat_message" SET "content" = (CASE WHEN ("chat_message"."id" = 771001) THEN 'edited: hello' WHEN ("chat_message"."id" = 771002) THEN 'edited: world' ELSE NULL END)::text WHERE "chat_message"."id" IN (771001, 771002);

-- Django: transaction.atomic() outermost block with autocommit on -> psycopg opens the transaction
BEGIN;

-- Django: Message.objects.create(...) (single INSERT with RETURNING the pk)
INSERT INTO "chat_message" ("conversation_id", "role", "content", "sequence_number", "is_edited", "created_at") VALUES (90311, 'user', 'Can you summarise the budget?', 41, false, '2024-11-05T09:15:02.004118+00:00'::timestamptz) RETURNING "chat_message"."id";

-- Django: Message.objects.bulk_create([...]) (one multi-row INSERT per batch)
INSERT INTO "chat_message" ("conversation_id", "role", "content", "sequence_number", "is_edited", "created_at") VALUES (90311, 'assistant', 'Here is the summary...', 42, false, '2024-11-05T09:15:03.120000+00:00'::timestamptz), (90311, 'user', 'Thanks', 43, false, '2024-11-05T09:15:09.500000+00:00'::timestamptz), (90311, 'assistant', 'You are welcome.', 44, false, '2024-11-05T09:15:10.010000+00:00'::timestamptz) RETURNING "chat_message"."id";

-- Django: Tag.objects.bulk_create(tags, ignore_conflicts=True)
INSERT INTO "chat_tag" ("name", "slug") VALUES ('Budget', 'budget'), ('Travel', 'travel'), ('Health', 'health') ON CONFLICT DO NOTHING;

-- Django 5.2: Message.objects.bulk_create(...) with only literal values -> INSERT ... SELECT FROM UNNEST
INSERT INTO "chat_message" ("conversation_id", "role", "content") SELECT * FROM UNNEST(('{90311,90311}')::integer[], ('{user,assistant}')::varchar(16)[], ('{hi,hello}')::text[]) RETURNING "chat_message"."id";

-- Django: Tag.objects.bulk_create(tags, update_conflicts=True, unique_fields=['slug'], update_fields=['name'])
INSERT INTO "chat_tag" ("name", "slug") VALUES ('Budgeting', 'budget'), ('Trips', 'travel') ON CONFLICT("slug") DO UPDATE SET "name" = EXCLUDED."name" RETURNING "chat_tag"."id";

-- Django: COMMIT at the end of the outermost atomic() block
COMMIT;

-- Django: nested transaction.atomic() creates a savepoint
SAVEPOINT "s140245012311296_x1";

-- Django: conversation.tags.add(tag) -> existing-row check then insert (inside the savepoint)
SELECT "chat_conversation_tags"."tag_id" FROM "chat_conversation_tags" WHERE ("chat_conversation_tags"."conversation_id" = 90311 AND "chat_conversation_tags"."tag_id" IN (12, 13));

-- Django: conversation.tags.add(tag) -> bulk insert into the M2M table
INSERT INTO "chat_conversation_tags" ("conversation_id", "tag_id") VALUES (90311, 12), (90311, 13) ON CONFLICT DO NOTHING;

-- Django: nested atomic() block exits cleanly
RELEASE SAVEPOINT "s140245012311296_x1";

-- Django: Tag.objects.get_or_create(slug=...) -> IntegrityError path rolls back to the savepoint
ROLLBACK TO SAVEPOINT "s140245012311296_x2";

-- Django: conversation.delete() -> Collector fast-deletes dependants by IN list first
DELETE FROM "chat_conversation_tags" WHERE "chat_conversation_tags"."conversation_id" IN (90311);

-- Django: conversation.delete() -> cascade to messages
DELETE FROM "chat_message" WHERE "chat_message"."conversation_id" IN (90311);

-- Django: Conversation.objects.filter(user_id=..., is_archived=True).delete() -> final DELETE by pk list
DELETE FROM "chat_conversation" WHERE "chat_conversation"."id" IN (88105, 87220, 86003);

-- Django: Attachment.objects.in_bulk([...])
SELECT "chat_attachment"."id", "chat_attachment"."filename", "chat_attachment"."file_type" FROM "chat_attachment" WHERE "chat_attachment"."id" IN (5521, 5522, 5530);

-- Django: Message.objects.filter(conversation_id=...).aggregate(Max('sequence_number'))
SELECT MAX("chat_message"."sequence_number") AS "sequence_number__max" FROM "chat_message" WHERE "chat_message"."conversation_id" = 90311;

-- Django 4.2+: Message.objects.values('role').annotate(n=Count('id')).order_by() (GROUP BY without default ordering)
SELECT "chat_message"."role", COUNT("chat_message"."id") AS "n" FROM "chat_message" WHERE "chat_message"."conversation_id" = 90311 GROUP BY 1;

-- Django: Conversation.objects.filter(user_id=...).distinct().values_list('tags__name', flat=True)
SELECT DISTINCT "chat_tag"."name" FROM "chat_conversation" LEFT OUTER JOIN "chat_conversation_tags" ON ("chat_conversation"."id" = "chat_conversation_tags"."conversation_id") LEFT OUTER JOIN "chat_tag" ON ("chat_conversation_tags"."tag_id" = "chat_tag"."id") WHERE "chat_conversation"."user_id" = 1842;

-- Django: Message.objects.filter(content__regex=r'^/(help|start)')
SELECT "chat_message"."id", "chat_message"."content" FROM "chat_message" WHERE "chat_message"."content"::text ~ '^/(help|start)';

-- Django: ContentType.objects.get_for_model(Conversation) (cache miss)
SELECT "django_content_type"."id", "django_content_type"."app_label", "django_content_type"."model" FROM "django_content_type" WHERE ("django_content_type"."app_label" = 'chat' AND "django_content_type"."model" = 'conversation') LIMIT 21;

-- Django: user.has_perm() -> permission lookup via groups
SELECT "django_content_type"."app_label", "auth_permission"."codename" FROM "auth_permission" INNER JOIN "auth_group_permissions" ON ("auth_permission"."id" = "auth_group_permissions"."permission_id") INNER JOIN "auth_group" ON ("auth_group_permissions"."group_id" = "auth_group"."id") INNER JOIN "auth_user_groups" ON ("auth_group"."id" = "auth_user_groups"."group_id") INNER JOIN "django_content_type" ON ("auth_permission"."content_type_id" = "django_content_type"."id") WHERE "auth_user_groups"."user_id" = 1842;

-- Django: manage.py migrate -> MigrationRecorder.applied_migrations()
SELECT "django_migrations"."id", "django_migrations"."app", "django_migrations"."name", "django_migrations"."applied" FROM "django_migrations";

-- Django: manage.py migrate -> introspection.get_table_list()
SELECT c.relname, CASE WHEN c.relispartition THEN 'p' WHEN c.relkind IN ('m', 'v') THEN 'v' ELSE 't' END, obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('f', 'm', 'p', 'r', 'v') AND n.nspname NOT IN ('pg_catalog', 'pg_toast') AND pg_catalog.pg_table_is_visible(c.oid);

-- Django: manage.py migrate -> MigrationRecorder.record_applied()
INSERT INTO "django_migrations" ("app", "name", "applied") VALUES ('chat', '0017_conversation_user_active_idx', '2024-11-05T09:20:00.000000+00:00'::timestamptz) RETURNING "django_migrations"."id";

-- Django: migration AddIndex(condition=Q(is_archived=False)) -> partial index DDL
CREATE INDEX "chat_conv_user_active_idx" ON "chat_conversation" ("user_id", "updated_at" DESC) WHERE NOT "is_archived";

-- Django: clearsessions management command
DELETE FROM "django_session" WHERE "django_session"."expire_date" < '2024-11-05T00:00:00+00:00'::timestamptz;
