-- Rails 7.x ActiveRecord on the PostgreSQL adapter with prepared statements
-- (the default): values, limits and offsets are bound as $n. Schema-cache
-- and type-map queries sent at boot are included. Written for brisk.

-- ActiveRecord: connection configure_connection
SET client_min_messages TO 'warning';

-- ActiveRecord: connection configure_connection
SET standard_conforming_strings = on;

-- ActiveRecord: connection configure_connection
SET intervalstyle = iso_8601;

-- ActiveRecord: connection configure_connection with default_timezone :utc
SET SESSION timezone TO 'UTC';

-- ActiveRecord: schema_search_path
SHOW search_path;

-- ActiveRecord: load_additional_types (OID type map at first connection)
SELECT t.oid, t.typname, t.typelem, t.typdelim, t.typinput, r.rngsubtype, t.typtype, t.typbasetype
              FROM pg_type as t
              LEFT JOIN pg_range as r ON oid = rngtypid
              WHERE
                t.typname IN ('int2', 'int4', 'int8', 'oid', 'float4', 'float8', 'text', 'varchar', 'char', 'name', 'bpchar', 'bool', 'bit', 'varbit', 'date', 'money', 'bytea', 'point', 'hstore', 'json', 'jsonb', 'cidr', 'inet', 'uuid', 'xml', 'tsvector', 'macaddr', 'citext', 'ltree', 'line', 'lseg', 'box', 'path', 'polygon', 'circle', 'numeric', 'interval', 'time', 'timestamp', 'timestamptz')
                OR t.typtype IN ('r', 'e', 'd')
                OR t.typinput = 'array_in(cstring)'::regprocedure
                OR t.typelem != 0;

-- ActiveRecord: data_source_exists?('users') for the schema cache
SELECT c.relname FROM pg_class c LEFT JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY (current_schemas(false)) AND c.relname = 'users' AND c.relkind IN ('r','v','m','p','f');

-- ActiveRecord: column_definitions('users') on first use of the model
SELECT a.attname, format_type(a.atttypid, a.atttypmod),
                     pg_get_expr(d.adbin, d.adrelid), a.attnotnull, a.atttypid, a.atttypmod,
                     c.collname, col_description(a.attrelid, a.attnum) AS comment,
                     attidentity AS identity,
                     attgenerated as attgenerated
                FROM pg_attribute a
                LEFT JOIN pg_attrdef d ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                LEFT JOIN pg_type t ON a.atttypid = t.oid
                LEFT JOIN pg_collation c ON a.attcollation = c.oid AND a.attcollation <> t.typcollation
               WHERE a.attrelid = '"users"'::regclass
                 AND a.attnum > 0 AND NOT a.attisdropped
               ORDER BY a.attnum;

-- ActiveRecord: primary_keys('users')
SELECT a.attname
  FROM (
         SELECT indrelid, indkey, generate_subscripts(indkey, 1) idx
           FROM pg_index
          WHERE indrelid = '"users"'::regclass
            AND indisprimary
       ) i
  JOIN pg_attribute a
    ON a.attrelid = i.indrelid
   AND a.attnum = i.indkey[i.idx]
 ORDER BY i.idx;

-- ActiveRecord: pending-migration check at boot
SELECT "schema_migrations"."version" FROM "schema_migrations" ORDER BY "schema_migrations"."version" ASC;

-- ActiveRecord: InternalMetadata[:environment]
SELECT "ar_internal_metadata"."value" FROM "ar_internal_metadata" WHERE "ar_internal_metadata"."key" = $1 LIMIT $2;

-- ActiveRecord: rails db:migrate advisory lock
SELECT pg_try_advisory_lock(1914794392281948395);

-- ActiveRecord: User.find(params[:id])
SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2;

-- ActiveRecord: User.find_by(email: params[:email])
SELECT "users".* FROM "users" WHERE "users"."email" = $1 LIMIT $2;

-- ActiveRecord: User.first
SELECT "users".* FROM "users" ORDER BY "users"."id" ASC LIMIT $1;

-- ActiveRecord: User.last
SELECT "users".* FROM "users" ORDER BY "users"."id" DESC LIMIT $1;

-- ActiveRecord: User.where(email: e).exists?
SELECT 1 AS one FROM "users" WHERE "users"."email" = $1 LIMIT $2;

-- ActiveRecord: Conversation.where(user_id: u.id, archived: false).count
SELECT COUNT(*) FROM "conversations" WHERE "conversations"."user_id" = $1 AND "conversations"."archived" = $2;

-- ActiveRecord: Order.group(:status).count
SELECT COUNT(*) AS "count_all", "orders"."status" AS "orders_status" FROM "orders" GROUP BY "orders"."status";

-- ActiveRecord: Order.where(user_id: id).sum(:total_cents)
SELECT SUM("orders"."total_cents") FROM "orders" WHERE "orders"."user_id" = $1;

-- ActiveRecord: User.where(active: true).pluck(:id, :email)
SELECT "users"."id", "users"."email" FROM "users" WHERE "users"."active" = $1;

-- ActiveRecord: Conversation.where(user: current_user).order(updated_at: :desc).page(params[:page]).per(25) (kaminari)
SELECT "conversations".* FROM "conversations" WHERE "conversations"."user_id" = $1 ORDER BY "conversations"."updated_at" DESC LIMIT $2 OFFSET $3;

-- ActiveRecord: Post.includes(:comments) -- second query, IN list bound per element
SELECT "comments".* FROM "comments" WHERE "comments"."post_id" IN ($1, $2, $3, $4, $5);

-- ActiveRecord: Post.includes(:author) -- belongs_to preload
SELECT "users".* FROM "users" WHERE "users"."id" IN ($1, $2, $3);

-- ActiveRecord: Post.where(id: huge_array) past the bind limit -> literal IN list
SELECT "posts".* FROM "posts" WHERE "posts"."id" IN (17, 23, 58, 91, 104, 233, 377, 610, 987, 1597);

-- ActiveRecord: Post.eager_load(:author).where(published: true).limit(10) (t0_r0 column aliases)
SELECT "posts"."id" AS t0_r0, "posts"."title" AS t0_r1, "posts"."body" AS t0_r2, "posts"."author_id" AS t0_r3, "posts"."published" AS t0_r4, "posts"."created_at" AS t0_r5, "posts"."updated_at" AS t0_r6, "users"."id" AS t1_r0, "users"."email" AS t1_r1, "users"."name" AS t1_r2 FROM "posts" LEFT OUTER JOIN "users" ON "users"."id" = "posts"."author_id" WHERE "posts"."published" = $1 LIMIT $2;

-- ActiveRecord: Post.joins(:author).where(users: { active: true }).order(created_at: :desc)
SELECT "posts".* FROM "posts" INNER JOIN "users" ON "users"."id" = "posts"."author_id" WHERE "users"."active" = $1 ORDER BY "posts"."created_at" DESC;

-- ActiveRecord: post.tags (has_many :through)
SELECT "tags".* FROM "tags" INNER JOIN "taggings" ON "tags"."id" = "taggings"."tag_id" WHERE "taggings"."post_id" = $1;

-- ActiveRecord: User.where.not(role: 'banned').or(User.where(admin: true))
SELECT "users".* FROM "users" WHERE ("users"."role" != $1 OR "users"."admin" = $2);

-- ActiveRecord: User.where(deleted_at: nil).where(role: ['admin', 'editor'])
SELECT "users".* FROM "users" WHERE "users"."deleted_at" IS NULL AND "users"."role" IN ($1, $2);

-- ActiveRecord: Post.where("title ILIKE ?", "%#{q}%") (string condition, value quoted into the SQL by Rails)
SELECT "posts".* FROM "posts" WHERE (title ILIKE '%postgres tuning%') ORDER BY "posts"."created_at" DESC LIMIT $1;

-- ActiveRecord: Post.where(created_at: 1.week.ago..) (endless range)
SELECT "posts".* FROM "posts" WHERE "posts"."created_at" >= $1;

-- ActiveRecord: Event.where(created_at: from..to)
SELECT "events".* FROM "events" WHERE "events"."created_at" BETWEEN $1 AND $2;

-- ActiveRecord: User.where(id: Membership.where(team_id: t).select(:user_id))
SELECT "users".* FROM "users" WHERE "users"."id" IN (SELECT "memberships"."user_id" FROM "memberships" WHERE "memberships"."team_id" = $1);

-- ActiveRecord: User.find_each(batch_size: 1000) -- batch after the first
SELECT "users".* FROM "users" WHERE "users"."id" > $1 ORDER BY "users"."id" ASC LIMIT $2;

-- ActiveRecord: Account.lock.find(id) / account.lock!
SELECT "accounts".* FROM "accounts" WHERE "accounts"."id" = $1 LIMIT $2 FOR UPDATE;

-- ActiveRecord: ActiveStorage attachment lookup (has_one_attached :avatar)
SELECT "active_storage_attachments".* FROM "active_storage_attachments" WHERE "active_storage_attachments"."record_id" = $1 AND "active_storage_attachments"."record_type" = $2 AND "active_storage_attachments"."name" = $3 LIMIT $4;

-- ActiveRecord: find with query log tags (config.active_record.query_log_tags_enabled)
SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2 /*application='Blog',controller='users',action='show'*/;

-- ActiveRecord: implicit transaction around save
BEGIN;

-- ActiveRecord: User.create!(...)
INSERT INTO "users" ("email", "name", "active", "created_at", "updated_at") VALUES ($1, $2, $3, $4, $5) RETURNING "id";

-- ActiveRecord: user.update!(name: ...)
UPDATE "users" SET "name" = $1, "updated_at" = $2 WHERE "users"."id" = $3;

-- ActiveRecord: user.touch
UPDATE "users" SET "updated_at" = $1 WHERE "users"."id" = $2;

-- ActiveRecord: comment.save with belongs_to :post, counter_cache: true, touch: true
UPDATE "posts" SET "comments_count" = COALESCE("comments_count", 0) + $1, "updated_at" = $2 WHERE "posts"."id" = $3;

-- ActiveRecord: post.increment!(:views_count) via update_counters
UPDATE "posts" SET "views_count" = COALESCE("views_count", 0) + 1 WHERE "posts"."id" = $1;

-- ActiveRecord: comment.destroy
DELETE FROM "comments" WHERE "comments"."id" = $1;

-- ActiveRecord: Session.where("updated_at < ?", 30.days.ago).delete_all
DELETE FROM "sessions" WHERE (updated_at < '2024-10-06 09:00:00');

-- ActiveRecord: Post.where(author_id: id).update_all(published: false)
UPDATE "posts" SET "published" = $1 WHERE "posts"."author_id" = $2;

-- ActiveRecord: end of implicit transaction
COMMIT;

-- ActiveRecord: nested transaction(requires_new: true)
SAVEPOINT active_record_1;

-- ActiveRecord: nested transaction raised
ROLLBACK TO SAVEPOINT active_record_1;

-- ActiveRecord: nested transaction completed
RELEASE SAVEPOINT active_record_1;

-- ActiveRecord: transaction raised ActiveRecord::Rollback
ROLLBACK;

-- ActiveRecord: Tag.insert_all([...]) (values quoted inline; note Rails' double space before DO NOTHING)
INSERT INTO "tags" ("name","created_at","updated_at") VALUES ('ruby', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), ('rails', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) ON CONFLICT  DO NOTHING RETURNING "id";

-- ActiveRecord: Tag.upsert_all([...], unique_by: :name) (record_timestamps keeps updated_at stable when nothing changed)
INSERT INTO "tags" ("name","color","created_at","updated_at") VALUES ('ruby', 'red', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), ('rails', 'crimson', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) ON CONFLICT ("name") DO UPDATE SET updated_at=(CASE WHEN ("tags"."color" IS NOT DISTINCT FROM excluded."color") THEN "tags".updated_at ELSE CURRENT_TIMESTAMP END),"color"=excluded."color" RETURNING "id";

-- ActiveRecord: User.distinct.pluck(:country)
SELECT DISTINCT "users"."country" FROM "users";

-- ActiveRecord: Post.select("posts.*, COUNT(comments.id) AS comments_total").left_joins(:comments).group("posts.id")
SELECT posts.*, COUNT(comments.id) AS comments_total FROM "posts" LEFT OUTER JOIN "comments" ON "comments"."post_id" = "posts"."id" GROUP BY "posts"."id";

-- ActiveRecord: User.where("settings->>'theme' = ?", 'dark') (jsonb, hand-written fragment)
SELECT "users".* FROM "users" WHERE (settings->>'theme' = 'dark');

-- ActiveRecord: Post.where("tags @> ARRAY[?]::varchar[]", ['pg'])
SELECT "posts".* FROM "posts" WHERE (tags @> ARRAY['pg']::varchar[]);

-- ActiveRecord: rails db:migrate -> record version
INSERT INTO "schema_migrations" ("version") VALUES ($1) RETURNING "version";

-- ActiveRecord: add_index :posts, :author_id, algorithm: :concurrently (disable_ddl_transaction!)
CREATE INDEX CONCURRENTLY "index_posts_on_author_id" ON "posts" ("author_id");

-- ActiveRecord: rails db:migrate advisory unlock
SELECT pg_advisory_unlock(1914794392281948395);
