-- Prisma Client (query engine 4.x/5.x) on PostgreSQL: schema-qualified,
-- double-quoted PascalCase model names, every value bound as $n, the
-- "AND 1=1" filler in unique lookups, OFFSET emitted even when skip is 0,
-- IN lists written without spaces. Models: User, Post, Comment, Tag (implicit
-- many-to-many "_PostToTag"), Session, Order, Event. Written for brisk.

-- Prisma: prisma.user.findUnique({ where: { email } })
SELECT "public"."User"."id", "public"."User"."email", "public"."User"."name", "public"."User"."role"::text, "public"."User"."createdAt", "public"."User"."updatedAt" FROM "public"."User" WHERE ("public"."User"."email" = $1 AND 1=1) LIMIT $2 OFFSET $3;

-- Prisma: prisma.user.findUnique({ where: { id } })
SELECT "public"."User"."id", "public"."User"."email", "public"."User"."name", "public"."User"."role"::text, "public"."User"."createdAt", "public"."User"."updatedAt" FROM "public"."User" WHERE ("public"."User"."id" = $1 AND 1=1) LIMIT $2 OFFSET $3;

-- Prisma: prisma.user.findFirst({ where: { role: 'ADMIN' } }) (enum bound via CAST to the enum type)
SELECT "public"."User"."id", "public"."User"."email", "public"."User"."name", "public"."User"."role"::text FROM "public"."User" WHERE "public"."User"."role" = CAST($1::text AS "public"."Role") LIMIT $2 OFFSET $3;

-- Prisma: prisma.post.findMany({ where: { published: true }, orderBy: { createdAt: 'desc' }, take: 20 })
SELECT "public"."Post"."id", "public"."Post"."title", "public"."Post"."content", "public"."Post"."published", "public"."Post"."authorId", "public"."Post"."createdAt" FROM "public"."Post" WHERE "public"."Post"."published" = $1 ORDER BY "public"."Post"."createdAt" DESC LIMIT $2 OFFSET $3;

-- Prisma: prisma.post.findMany() with no arguments (OFFSET still bound)
SELECT "public"."Post"."id", "public"."Post"."title", "public"."Post"."content", "public"."Post"."published", "public"."Post"."authorId", "public"."Post"."createdAt" FROM "public"."Post" WHERE 1=1 OFFSET $1;

-- Prisma: prisma.post.findMany({ skip: 40, take: 20, orderBy: { id: 'asc' } })
SELECT "public"."Post"."id", "public"."Post"."title", "public"."Post"."createdAt" FROM "public"."Post" WHERE 1=1 ORDER BY "public"."Post"."id" ASC LIMIT $1 OFFSET $2;

-- Prisma: prisma.user.findMany({ include: { posts: true } }) -- relation query, IN list of parent ids
SELECT "public"."Post"."id", "public"."Post"."title", "public"."Post"."content", "public"."Post"."published", "public"."Post"."authorId", "public"."Post"."createdAt" FROM "public"."Post" WHERE "public"."Post"."authorId" IN ($1,$2,$3,$4,$5) OFFSET $6;

-- Prisma: prisma.post.findMany({ include: { author: true } }) -- to-one relation query
SELECT "public"."User"."id", "public"."User"."email", "public"."User"."name" FROM "public"."User" WHERE "public"."User"."id" IN ($1,$2,$3) OFFSET $4;

-- Prisma: prisma.post.findMany({ include: { tags: true } }) -- implicit m2m through "_PostToTag"
SELECT "public"."Tag"."id", "public"."Tag"."name", "t1"."A" FROM "public"."Tag" LEFT JOIN "public"."_PostToTag" AS "t1" ON "t1"."B" = "public"."Tag"."id" WHERE "t1"."A" IN ($1,$2,$3) OFFSET $4;

-- Prisma: prisma.user.findMany({ where: { name: { contains: q, mode: 'insensitive' } } }) (bound '%q%')
SELECT "public"."User"."id", "public"."User"."email", "public"."User"."name" FROM "public"."User" WHERE "public"."User"."name"::text ILIKE $1 OFFSET $2;

-- Prisma: prisma.post.findMany({ where: { title: { contains: q } } }) (case-sensitive contains -> LIKE)
SELECT "public"."Post"."id", "public"."Post"."title" FROM "public"."Post" WHERE "public"."Post"."title"::text LIKE $1 OFFSET $2;

-- Prisma: $queryRaw`... ILIKE '%' || ${q} || '%'` (hand-written variant of the same filter)
SELECT "id", "email", "name" FROM "public"."User" WHERE "name" ILIKE '%' || $1 || '%' ORDER BY "name" ASC LIMIT 20;

-- Prisma: prisma.user.findMany({ where: { OR: [{ email: { startsWith: q } }, { name: { endsWith: q, mode: 'insensitive' } }] } })
SELECT "public"."User"."id", "public"."User"."email", "public"."User"."name" FROM "public"."User" WHERE ("public"."User"."email"::text LIKE $1 OR "public"."User"."name"::text ILIKE $2) OFFSET $3;

-- Prisma: prisma.post.findMany({ where: { authorId: { in: ids }, NOT: { published: false } } })
SELECT "public"."Post"."id", "public"."Post"."title" FROM "public"."Post" WHERE ("public"."Post"."authorId" IN ($1,$2,$3) AND NOT "public"."Post"."published" = $4) OFFSET $5;

-- Prisma: prisma.user.findMany({ where: { posts: { some: { published: true } } } }) (relation filter as IN subselect)
SELECT "public"."User"."id", "public"."User"."email" FROM "public"."User" WHERE ("public"."User"."id") IN (SELECT "t1"."authorId" FROM "public"."Post" AS "t1" WHERE ("t1"."published" = $1 AND "t1"."authorId" IS NOT NULL)) OFFSET $2;

-- Prisma: prisma.user.findMany({ where: { posts: { none: {} } } })
SELECT "public"."User"."id", "public"."User"."email" FROM "public"."User" WHERE ("public"."User"."id") NOT IN (SELECT "t1"."authorId" FROM "public"."Post" AS "t1" WHERE (1=1 AND "t1"."authorId" IS NOT NULL)) OFFSET $1;

-- Prisma: prisma.post.findMany({ where: { tags: { has: 'pg' } } }) (scalar list)
SELECT "public"."Post"."id", "public"."Post"."title" FROM "public"."Post" WHERE "public"."Post"."labels" @> $1 OFFSET $2;

-- Prisma: prisma.post.findMany({ where: { labels: { hasSome: [...] } } })
SELECT "public"."Post"."id", "public"."Post"."title" FROM "public"."Post" WHERE "public"."Post"."labels" && $1 OFFSET $2;

-- Prisma: prisma.event.findMany({ where: { payload: { path: ['kind'], equals: 'click' } } })
SELECT "public"."Event"."id", "public"."Event"."payload" FROM "public"."Event" WHERE ("public"."Event"."payload"#>ARRAY[$1]::text[])::jsonb::jsonb = $2 OFFSET $3;

-- Prisma: prisma.post.findMany({ cursor: { id }, skip: 1, take: 10, orderBy: { id: 'asc' } })
SELECT "public"."Post"."id", "public"."Post"."title" FROM "public"."Post", (SELECT "public"."Post"."id" AS "Post_id_0" FROM "public"."Post" WHERE ("public"."Post"."id") = ($1)) AS "order_cmp" WHERE "public"."Post"."id" >= "order_cmp"."Post_id_0" ORDER BY "public"."Post"."id" ASC LIMIT $2 OFFSET $3;

-- Prisma: prisma.post.count({ where: { published: true } })
SELECT COUNT(*) AS "_count._all" FROM (SELECT "public"."Post"."id" FROM "public"."Post" WHERE "public"."Post"."published" = $1 OFFSET $2) AS "sub";

-- Prisma: prisma.user.findMany({ include: { _count: { select: { posts: true } } } })
SELECT "public"."User"."id", "public"."User"."email", COALESCE("aggr_selection_0_Post"."_aggr_count_posts", 0) AS "_aggr_count_posts" FROM "public"."User" LEFT JOIN (SELECT "public"."Post"."authorId", COUNT(*) AS "_aggr_count_posts" FROM "public"."Post" WHERE 1=1 GROUP BY "public"."Post"."authorId") AS "aggr_selection_0_Post" ON ("public"."User"."id" = "aggr_selection_0_Post"."authorId") WHERE 1=1 OFFSET $1;

-- Prisma: prisma.order.aggregate({ _sum: { total: true }, _avg: { total: true }, where: { userId } })
SELECT SUM("total") AS "_sum.total", AVG("total") AS "_avg.total" FROM (SELECT "public"."Order"."total" FROM "public"."Order" WHERE "public"."Order"."userId" = $1 OFFSET $2) AS "sub";

-- Prisma: prisma.order.groupBy({ by: ['status'], _count: { id: true }, _sum: { total: true } })
SELECT "public"."Order"."status"::text, COUNT("public"."Order"."id") AS "_count.id", SUM("public"."Order"."total") AS "_sum.total" FROM "public"."Order" WHERE 1=1 GROUP BY "public"."Order"."status" OFFSET $1;

-- Prisma 5 relationJoins preview: prisma.user.findUnique({ where: { id }, include: { posts: { orderBy: { createdAt: 'desc' }, take: 5 } } })
SELECT "t1"."id", "t1"."email", "t1"."name", "User_posts"."__prisma_data__" AS "posts" FROM "public"."User" AS "t1" LEFT JOIN LATERAL (SELECT COALESCE(JSONB_AGG("__prisma_data__"), '[]') AS "__prisma_data__" FROM (SELECT "t4"."__prisma_data__" FROM (SELECT JSONB_BUILD_OBJECT('id', "t3"."id", 'title', "t3"."title", 'createdAt', "t3"."createdAt") AS "__prisma_data__", "t3"."createdAt" FROM (SELECT "t2".* FROM "public"."Post" AS "t2" WHERE "t1"."id" = "t2"."authorId") AS "t3" ORDER BY "t3"."createdAt" DESC LIMIT $1) AS "t4") AS "t5") AS "User_posts" ON true WHERE "t1"."id" = $2 LIMIT $3;

-- Prisma: interactive / nested-write transaction start
BEGIN;

-- Prisma 5: prisma.user.create({ data }) (RETURNING the selected scalars)
INSERT INTO "public"."User" ("email","name","role","createdAt","updatedAt") VALUES ($1,$2,CAST($3::text AS "public"."Role"),$4,$5) RETURNING "public"."User"."id", "public"."User"."email", "public"."User"."name", "public"."User"."role"::text, "public"."User"."createdAt", "public"."User"."updatedAt";

-- Prisma 4: prisma.post.create({ data }) returning only the id, followed by a read-back
INSERT INTO "public"."Post" ("title","content","published","authorId","createdAt") VALUES ($1,$2,$3,$4,$5) RETURNING "public"."Post"."id";

-- Prisma: prisma.post.createMany({ data: [...], skipDuplicates: true })
INSERT INTO "public"."Tag" ("name") VALUES ($1), ($2), ($3) ON CONFLICT DO NOTHING;

-- Prisma: prisma.post.update({ where: { id }, data: { tags: { connect: [...] } } }) -> m2m join rows
INSERT INTO "public"."_PostToTag" ("A","B") VALUES ($1,$2), ($3,$4) ON CONFLICT DO NOTHING;

-- Prisma 4: prisma.user.update(...) step 1, read the ids that match the unique filter
SELECT "public"."User"."id" FROM "public"."User" WHERE ("public"."User"."id" = $1 AND 1=1) OFFSET $2;

-- Prisma 4: prisma.user.update(...) step 2, update by the ids just read
UPDATE "public"."User" SET "name" = $1, "updatedAt" = $2 WHERE ("public"."User"."id" IN ($3) AND ("public"."User"."id" = $4 AND 1=1));

-- Prisma 5: prisma.user.update({ where: { id }, data: { name } }) in one statement
UPDATE "public"."User" SET "name" = $1, "updatedAt" = $2 WHERE ("public"."User"."id" = $3 AND 1=1) RETURNING "public"."User"."id", "public"."User"."email", "public"."User"."name", "public"."User"."updatedAt";

-- Prisma: prisma.post.update({ data: { views: { increment: 1 } } })
UPDATE "public"."Post" SET "views" = (COALESCE("views", $1) + $2) WHERE ("public"."Post"."id" = $3 AND 1=1) RETURNING "public"."Post"."id", "public"."Post"."views";

-- Prisma: prisma.post.updateMany({ where: { authorId }, data: { published: false } })
UPDATE "public"."Post" SET "published" = $1 WHERE "public"."Post"."authorId" = $2;

-- Prisma: prisma.user.upsert({ where: { email }, create, update }) as a native ON CONFLICT upsert (4.6+)
INSERT INTO "public"."User" ("email","name","createdAt","updatedAt") VALUES ($1,$2,$3,$4) ON CONFLICT ("email") DO UPDATE SET "name" = $5, "updatedAt" = $6 WHERE ("public"."User"."email" = $7 AND 1=1) RETURNING "public"."User"."id", "public"."User"."email", "public"."User"."name";

-- Prisma: prisma.comment.delete({ where: { id } }) (delete by the ids read first)
DELETE FROM "public"."Comment" WHERE ("public"."Comment"."id" IN ($1) AND ("public"."Comment"."id" = $2 AND 1=1));

-- Prisma: prisma.session.deleteMany({ where: { expires: { lt: new Date() } } })
DELETE FROM "public"."Session" WHERE "public"."Session"."expires" < $1;

-- Prisma: interactive transaction commit
COMMIT;

-- Prisma: interactive transaction rolled back by a thrown error
ROLLBACK;

-- Prisma: $transaction([...], { isolationLevel: 'Serializable' })
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;

-- Prisma Migrate: applied migrations list
SELECT "id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count" FROM "_prisma_migrations" ORDER BY "started_at" ASC;

-- Prisma Migrate: advisory lock taken around migrate deploy
SELECT pg_advisory_lock(72707369);

-- Prisma Migrate: schema existence check
SELECT EXISTS(SELECT 1 FROM pg_namespace WHERE nspname = $1), version(), current_setting('server_version_num')::integer as numeric_version;

-- Prisma: generated index DDL from @@index([authorId, createdAt(sort: Desc)])
CREATE INDEX "Post_authorId_createdAt_idx" ON "public"."Post"("authorId", "createdAt" DESC);
