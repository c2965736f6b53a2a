-- Statements as pg_stat_statements prints what drivers send with bound parameters (the
-- extended protocol), $n in place of each value: asyncpg, psycopg 3, pg (node), JDBC and
-- the Ruby pg gem each leave the typing to the server, or cast where the ORM says so.

-- Django (psycopg 3, server-side binding)
SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."username" = $1 LIMIT $2;
SELECT "auth_user"."id" FROM "auth_user" WHERE ("auth_user"."is_staff" AND "auth_user"."last_login" < $1) ORDER BY "auth_user"."last_login" ASC;
SELECT "shop_order"."id", "shop_order"."status" FROM "shop_order" WHERE "shop_order"."shop_id" IN ($1, $2, $3) ORDER BY "shop_order"."made_at" DESC LIMIT $4;
SELECT "shop_order"."id" FROM "shop_order" WHERE "shop_order"."id" = ANY($1);
SELECT "shop_product"."id" FROM "shop_product" WHERE "shop_product"."name"::text LIKE '%' || $1 || '%';
SELECT "shop_product"."id" FROM "shop_product" WHERE UPPER("shop_product"."sku"::text) = UPPER($1);
SELECT "shop_product"."id" FROM "shop_product" WHERE "shop_product"."price" BETWEEN $1 AND $2 AND "shop_product"."shop_id" = $3;
SELECT "shop_product"."id" FROM "shop_product" WHERE ("shop_product"."attributes" -> $1) = $2;
SELECT "shop_product"."id" FROM "shop_product" WHERE ("shop_product"."attributes" ->> $1) = $2;
SELECT "shop_product"."id" FROM "shop_product" WHERE "shop_product"."attributes" @> $1;
SELECT "shop_product"."id" FROM "shop_product" WHERE "shop_product"."tags" && $1::text[];
SELECT "shop_product"."id" FROM "shop_product" WHERE "shop_product"."created" > date $1 AND "shop_product"."created" <= date $2;
SELECT "shop_order"."id" FROM "shop_order" WHERE "shop_order"."made_at" >= now() - interval $1 AND "shop_order"."shop_id" = $2;
SELECT "shop_order"."id" FROM "shop_order" WHERE "shop_order"."made_at" >= (now() - $1::interval);
SELECT "shop_order"."id" FROM "shop_order" WHERE ("shop_order"."metadata" -> $1) = to_jsonb($2::text);
SELECT COUNT(*) FROM "shop_order" WHERE "shop_order"."customer_id" = $1 AND NOT ("shop_order"."status" = $2);
SELECT "shop_order"."id", CASE WHEN "shop_order"."total" >= $1 THEN $2 ELSE $3 END AS "tier" FROM "shop_order" WHERE "shop_order"."shop_id" = $4;
SELECT DATE_TRUNC($1, "shop_order"."made_at" AT TIME ZONE $2) AS "month", COUNT("shop_order"."id") AS "n" FROM "shop_order" WHERE "shop_order"."shop_id" = $3 GROUP BY 1;
UPDATE "shop_order" SET "status" = $1, "note" = $2 WHERE "shop_order"."id" = $3;
INSERT INTO "shop_orderitem" ("order_id", "product_id", "quantity", "price") VALUES ($1, $2, $3, $4) RETURNING "shop_orderitem"."id";
DELETE FROM "shop_order" WHERE "shop_order"."id" IN (SELECT U0."id" FROM "shop_order" U0 WHERE U0."status" = $1 AND U0."made_at" < $2 LIMIT $3);
SELECT "auth_user"."id" FROM "auth_user" WHERE "auth_user"."email"::text ILIKE $1 || '%';
SELECT "auth_user"."id" FROM "auth_user" WHERE "auth_user"."id" IN (SELECT U0."customer_id" FROM "shop_order" U0 WHERE U0."total" > $1);

-- SQLAlchemy (asyncpg, psycopg)
SELECT invoice.id, invoice.amount FROM invoice WHERE invoice.customer_id = $1::INTEGER AND invoice.paid IS false;
SELECT invoice.id FROM invoice WHERE invoice.currency = $1::VARCHAR AND invoice.issued_on >= $2::DATE ORDER BY invoice.issued_on DESC LIMIT $3::INTEGER OFFSET $4::INTEGER;
SELECT invoice.id FROM invoice WHERE invoice.id = ANY ($1::INTEGER[]);
SELECT invoice.id FROM invoice WHERE invoice.issued_on < current_date - $1 AND invoice.paid = $2;
SELECT invoice.id FROM invoice WHERE invoice.due_on < $1 + $2 AND invoice.customer_id = $3;
SELECT invoice.id FROM invoice WHERE invoice.due_on BETWEEN date $1 AND date $1 + interval $2;
SELECT invoice.customer_id, sum(invoice.amount) AS sum_1, rank() OVER (ORDER BY sum(invoice.amount) DESC) AS anon_1 FROM invoice WHERE invoice.issued_on > $1 GROUP BY invoice.customer_id LIMIT $2;
SELECT anon_1.id FROM (SELECT invoice.id AS id, invoice.amount AS amount FROM invoice WHERE invoice.customer_id = $1) AS anon_1 WHERE anon_1.amount > $2;
WITH paid AS (SELECT invoice.customer_id AS customer_id, sum(invoice.amount) AS total FROM invoice WHERE invoice.paid AND invoice.issued_on > $1 GROUP BY invoice.customer_id) SELECT paid.customer_id FROM paid WHERE paid.total > $2;
SELECT invoice_line.invoice_id, invoice_line.qty * invoice_line.unit_price * $1 AS anon_1 FROM invoice_line WHERE invoice_line.invoice_id = $2;
SELECT invoice.id FROM invoice WHERE EXISTS (SELECT 1 FROM invoice_line WHERE invoice_line.invoice_id = invoice.id AND invoice_line.description LIKE $1 || $2 || $3);
UPDATE invoice SET paid = $1 FROM invoice_line WHERE invoice_line.invoice_id = invoice.id AND invoice_line.description = $2;
INSERT INTO invoice (customer_id, issued_on, due_on, amount, currency, paid) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET amount = excluded.amount RETURNING invoice.id;
DELETE FROM invoice WHERE invoice.due_on < $1::DATE AND invoice.paid;
SELECT invoice.id FROM invoice WHERE lower(invoice.currency) = lower($1) LIMIT $2;
SELECT invoice.id FROM invoice WHERE invoice.amount > $1 - $2;
SELECT coalesce(sum(invoice.amount), $1) AS coalesce_1 FROM invoice WHERE invoice.customer_id = $2;

-- Rails / ActiveRecord (pg gem, prepared statements)
SELECT "posts".* FROM "posts" WHERE "posts"."account_id" = $1 AND "posts"."state" = $2 ORDER BY "posts"."published_at" DESC NULLS LAST LIMIT $3 OFFSET $4;
SELECT "posts".* FROM "posts" WHERE "posts"."id" IN ($1, $2, $3, $4, $5, $6);
SELECT "posts"."id" FROM "posts" WHERE "posts"."user_id" = $1 AND "posts"."created_at" >= $2 AND "posts"."created_at" < $3;
SELECT "posts".* FROM "posts" WHERE (title ILIKE $1) ORDER BY "posts"."id" ASC LIMIT $2;
SELECT "posts".* FROM "posts" WHERE "posts"."tags" @> ARRAY[$1]::varchar[];
SELECT "posts".* FROM "posts" WHERE $1 = ANY("posts"."tags");
SELECT COUNT(*) FROM "comments" WHERE "comments"."post_id" = $1 AND "comments"."created_at" > $2;
SELECT "comments".* FROM "comments" WHERE "comments"."user_id" = $1 ORDER BY "comments"."id" DESC LIMIT $2;
SELECT "comments"."post_id", COUNT(*) FROM "comments" WHERE "comments"."post_id" IN (SELECT "posts"."id" FROM "posts" WHERE "posts"."account_id" = $1) GROUP BY "comments"."post_id";
UPDATE "posts" SET "published_at" = $1, "updated_at" = $2 WHERE "posts"."id" = $3;
UPDATE "comments" SET "body" = $1, "updated_at" = $2 WHERE "comments"."id" = $3;
INSERT INTO "posts" ("account_id", "user_id", "title", "body", "state", "created_at", "updated_at") VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING "id";
INSERT INTO "accounts" ("name","plan","created_at","updated_at") VALUES ($1, $2, $3, $4) ON CONFLICT ("id") DO NOTHING RETURNING "id";
DELETE FROM "comments" WHERE "comments"."post_id" = $1;
SELECT "accounts".* FROM "accounts" WHERE "accounts"."id" = $1 LIMIT $2 FOR UPDATE;
SELECT "posts".* FROM "posts" WHERE "posts"."published_at" BETWEEN $1 AND $2 AND "posts"."account_id" = $3;
SELECT "posts".* FROM "posts" INNER JOIN "accounts" ON "accounts"."id" = "posts"."account_id" WHERE "accounts"."plan" = $1 AND "posts"."state" != $2 LIMIT $3;
SELECT "posts"."account_id", MAX("posts"."updated_at") FROM "posts" WHERE "posts"."updated_at" > now() - interval $1 GROUP BY "posts"."account_id";

-- Prisma (quaint: every value a parameter, OFFSET always present)
SELECT "public"."User"."id", "public"."User"."email" FROM "public"."User" WHERE ("public"."User"."id" = $1 AND 1=1) LIMIT $2 OFFSET $3;
SELECT "public"."User"."id" FROM "public"."User" WHERE "public"."User"."email" IN ($1,$2,$3) OFFSET $4;
SELECT "public"."User"."id" FROM "public"."User" WHERE ("public"."User"."email"::text LIKE $1 AND "public"."User"."role" = CAST($2::text AS "text")) OFFSET $3;
SELECT "public"."User"."id" FROM "public"."User" WHERE ("public"."User"."name"::text ILIKE $1 OR "public"."User"."email"::text ILIKE $2) ORDER BY "public"."User"."createdAt" DESC LIMIT $3 OFFSET $4;
SELECT "public"."User"."id" FROM "public"."User" WHERE ("public"."User"."profile"#>ARRAY[$1]::text[])::jsonb::text = $2 OFFSET $3;
SELECT "public"."Post"."id", "public"."Post"."title" FROM "public"."Post" WHERE "public"."Post"."authorId" = $1 ORDER BY "public"."Post"."id" ASC LIMIT $2 OFFSET $3;
SELECT "public"."Post"."id" FROM "public"."Post" WHERE ("public"."Post"."published" = $1 AND "public"."Post"."viewCount" >= $2) ORDER BY "public"."Post"."viewCount" DESC LIMIT $3 OFFSET $4;
SELECT "public"."Post"."id" FROM "public"."Post" WHERE "public"."Post"."createdAt" >= $1 AND "public"."Post"."createdAt" <= $2 OFFSET $3;
SELECT "public"."Post"."id" FROM "public"."Post" WHERE ("public"."Post"."id") IN (SELECT "t1"."id" FROM "public"."Post" AS "t1" WHERE ("t1"."title"::text LIKE $1 AND "t1"."id" IS NOT NULL)) OFFSET $2;
SELECT COUNT(*) AS "_count._all" FROM (SELECT "public"."Post"."id" FROM "public"."Post" WHERE "public"."Post"."authorId" = $1 OFFSET $2) AS "sub";
UPDATE "public"."User" SET "name" = $1 WHERE ("public"."User"."id" = $2 AND 1=1) RETURNING "public"."User"."id";
UPDATE "public"."Post" SET "viewCount" = ("viewCount" + $1) WHERE ("public"."Post"."id" = $2 AND 1=1);
INSERT INTO "public"."User" ("id","email","name","role","createdAt") VALUES ($1,$2,$3,$4,$5) ON CONFLICT ("email") DO UPDATE SET "name" = $6 RETURNING "public"."User"."id";
DELETE FROM "public"."Post" WHERE ("public"."Post"."authorId" = $1 AND "public"."Post"."published" = $2);
SELECT "public"."Post"."authorId", SUM("public"."Post"."viewCount") FROM "public"."Post" WHERE "public"."Post"."createdAt" > $1 GROUP BY "public"."Post"."authorId" HAVING SUM("public"."Post"."viewCount") > $2 OFFSET $3;

-- Hibernate (JDBC)
select c1_0.id,c1_0.email from customer c1_0 where c1_0.id=$1;
select c1_0.id from customer c1_0 where c1_0.last_name=$1 and c1_0.country=$2 order by c1_0.created_at desc offset $3 rows fetch first $4 rows only;
select p1_0.id,p1_0.amount from purchase_order p1_0 where p1_0.customer_id=$1 and p1_0.order_date>=$2 order by p1_0.order_date;
select p1_0.id from purchase_order p1_0 where p1_0.status in ($1,$2) and p1_0.amount between $3 and $4;
select c1_0.id from customer c1_0 where upper(c1_0.email) like upper($1) escape '\';
select count(*) from purchase_order p1_0 join customer c1_0 on c1_0.id=p1_0.customer_id where c1_0.country=$1;
select p1_0.customer_id,sum(p1_0.amount) from purchase_order p1_0 where p1_0.order_date>=$1 group by p1_0.customer_id having sum(p1_0.amount)>$2;
select c1_0.id from customer c1_0 where exists(select 1 from purchase_order p1_0 where p1_0.customer_id=c1_0.id and p1_0.status=$1);
update purchase_order set status=$1 where id=$2;
update customer set email=$1,version=$2 where id=$3 and version=$4;
insert into customer (country,created_at,email,first_name,last_name,version,id) values ($1,$2,$3,$4,$5,$6,$7);
delete from purchase_order where customer_id=$1;
select c1_0.id,case when c1_0.country=$1 then $2 else $3 end from customer c1_0 where c1_0.created_at<$4;
select p1_0.id from purchase_order p1_0 where extract(year from p1_0.order_date)=$1 and p1_0.customer_id=$2;

-- Hand-written SQL
SELECT x.id FROM events x WHERE x.owner_id = $1 AND x.made_at > now() - interval $2;
SELECT id FROM events WHERE shop_id = $1 AND made_at >= now() - ($2 || $3)::interval AND kind = $4;
SELECT id FROM events WHERE shop_id = $1 AND made_at >= now() - $2 AND kind = $3;
SELECT id FROM events WHERE made_at > timestamptz $1 - interval $2;
SELECT id FROM events WHERE made_at::date BETWEEN date $1 AND date $2;
SELECT id FROM events WHERE made_at > timestamp with time zone $1;
SELECT id FROM events WHERE owner_id = ANY($1) AND kind = ANY($2);
SELECT id FROM events WHERE owner_id = ANY($1::int[]) ORDER BY made_at DESC LIMIT $2;
SELECT id FROM events WHERE payload->>$1 = $2 AND shop_id = $3;
SELECT id FROM events WHERE payload->$1->>$2 = $3;
SELECT id FROM events WHERE payload @> $1::jsonb LIMIT $2;
SELECT id FROM events WHERE payload ? $1 AND owner_id = $2;
SELECT id FROM events WHERE (payload->>$1)::int BETWEEN $2 AND $3;
SELECT id FROM events WHERE kind LIKE $1 || $2 || $3;
SELECT id FROM events WHERE kind ILIKE '%' || $1 || '%' ESCAPE $2;
SELECT id FROM events WHERE owner_id = $1 OR kind = $1;
SELECT id FROM events WHERE made_at > now() - $1 * interval $2;
SELECT id FROM events WHERE made_at > now() - make_interval(days => $1);
SELECT id FROM events WHERE date_trunc($1, made_at) = date_trunc($1, now()) AND owner_id = $2;
SELECT id, CASE WHEN duration > $1 THEN $2 WHEN duration > $3 THEN $4 ELSE $5 END FROM events WHERE owner_id = $6;
SELECT id, row_number() OVER (PARTITION BY owner_id ORDER BY made_at DESC) AS n FROM events WHERE shop_id = $1;
SELECT owner_id, avg(extract(epoch FROM duration)) OVER (ORDER BY owner_id ROWS BETWEEN $1 PRECEDING AND CURRENT ROW) FROM events WHERE shop_id = $2;
WITH recent AS (SELECT owner_id, max(made_at) AS last_at FROM events WHERE made_at > now() - interval $1 GROUP BY owner_id) SELECT u.username FROM recent r JOIN auth_user u ON u.id = r.owner_id WHERE r.last_at < $2;
WITH RECURSIVE chain(id, depth) AS (SELECT id, $1 FROM events WHERE id = $2 UNION ALL SELECT e.id, c.depth + $3 FROM chain c JOIN events e ON e.id = c.id + $4 WHERE c.depth < $5) SELECT id FROM chain;
SELECT s.id, latest.kind FROM shop_shop s LEFT JOIN LATERAL (SELECT kind FROM events e WHERE e.shop_id = s.id AND e.made_at > $1 ORDER BY e.made_at DESC LIMIT $2) latest ON true WHERE s.owner_id = $3;
SELECT DISTINCT ON (shop_id) shop_id, id, made_at FROM events WHERE owner_id = $1 ORDER BY shop_id, made_at DESC;
SELECT u.id FROM auth_user u WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.owner_id = u.id AND e.made_at > $1) AND u.is_active = $2;
SELECT id FROM events WHERE tags && $1 AND made_at > $2;
SELECT id FROM events WHERE $1 = ANY(tags) AND shop_id = $2;
SELECT id FROM events ORDER BY id LIMIT $1 OFFSET $2;
SELECT id FROM events WHERE owner_id = $1 ORDER BY made_at DESC LIMIT $2 + $3;
INSERT INTO events (owner_id, shop_id, kind, made_at, payload) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET payload = events.payload || EXCLUDED.payload;
INSERT INTO events (owner_id, shop_id, kind, made_at, payload) SELECT owner_id, shop_id, $1, now(), $2 FROM events WHERE id = $3;
UPDATE events SET duration = duration + interval $1 WHERE id = $2;
UPDATE events e SET kind = $1 FROM auth_user u WHERE u.id = e.owner_id AND u.email = $2;
UPDATE events SET payload = jsonb_set(payload, $1, to_jsonb($2::text)) WHERE id = $3;
DELETE FROM events WHERE made_at < now() - interval $1 AND kind = $2 RETURNING id;
DELETE FROM events e USING shop_shop s WHERE s.id = e.shop_id AND s.slug = $1;
SELECT count(*) FILTER (WHERE kind = $1), count(*) FILTER (WHERE made_at > now() - interval $2) FROM events WHERE shop_id = $3;
SELECT to_char(made_at, $1) AS day, count(*) FROM events WHERE shop_id = $2 GROUP BY 1;
SELECT id FROM events WHERE made_at AT TIME ZONE $1 > $2 AND owner_id = $3;
SELECT id FROM events WHERE greatest(made_at, $1) > least(now(), $2) AND owner_id = $3;
SELECT id FROM events WHERE coalesce(duration, interval $1) > $2 AND shop_id = $3;
SELECT e.id FROM events e WHERE e.owner_id = $1 UNION ALL SELECT e.id FROM events e WHERE e.shop_id = $2 LIMIT $3;
SELECT id FROM events WHERE (owner_id, made_at) > ($1, $2) ORDER BY owner_id, made_at LIMIT $3;
SELECT id FROM events WHERE nullif(kind, $1) IS NOT NULL AND shop_id = $2;
