-- Statements as applications send them, with their values. Run against the corpus schema,
-- pg_stat_statements keeps them normalized ($n in place of each constant): the texts the
-- advisor gets from a real server.

-- Django
SELECT "auth_user"."id", "auth_user"."username", "auth_user"."email" FROM "auth_user" WHERE "auth_user"."id" = 42 LIMIT 21;
SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" WHERE ("auth_user"."is_active" AND "auth_user"."date_joined" >= '2024-01-01T00:00:00+00:00'::timestamptz) ORDER BY "auth_user"."date_joined" DESC LIMIT 20 OFFSET 40;
SELECT COUNT(*) AS "__count" FROM "shop_order" WHERE "shop_order"."shop_id" = 17;
SELECT "shop_order"."id", "shop_order"."total" FROM "shop_order" WHERE ("shop_order"."customer_id" = 12 AND "shop_order"."status" IN ('paid', 'shipped')) ORDER BY "shop_order"."made_at" DESC;
SELECT "shop_order"."id" FROM "shop_order" INNER JOIN "shop_shop" ON ("shop_order"."shop_id" = "shop_shop"."id") WHERE "shop_shop"."slug" = 'shop-3' LIMIT 21;
SELECT "shop_product"."id", "shop_product"."name" FROM "shop_product" WHERE UPPER("shop_product"."name"::text) LIKE UPPER('%abc%') ORDER BY "shop_product"."id" ASC LIMIT 25;
SELECT "shop_product"."id" FROM "shop_product" WHERE "shop_product"."name"::text LIKE 'Product 1%';
SELECT "shop_product"."id" FROM "shop_product" WHERE "shop_product"."tags" @> ARRAY['t3']::text[];
SELECT "shop_product"."id" FROM "shop_product" WHERE ("shop_product"."attributes" -> 'color') = '"red"'::jsonb;
SELECT "shop_product"."id" FROM "shop_product" WHERE "shop_product"."attributes" @> '{"size": 3}'::jsonb;
SELECT "shop_product"."id" FROM "shop_product" WHERE "shop_product"."attributes" ? 'color';
SELECT "shop_order"."id" FROM "shop_order" WHERE "shop_order"."made_at" BETWEEN '2024-01-01T00:00:00+00:00'::timestamptz AND '2024-02-01T00:00:00+00:00'::timestamptz;
SELECT "shop_order"."id" FROM "shop_order" WHERE "shop_order"."note" IS NULL AND "shop_order"."shop_id" = 5;
SELECT DATE_TRUNC('day', "shop_order"."made_at" AT TIME ZONE 'UTC') AS "day", SUM("shop_order"."total") AS "revenue" FROM "shop_order" WHERE "shop_order"."shop_id" = 9 GROUP BY 1 ORDER BY 1;
SELECT "shop_order"."status", COUNT("shop_order"."id") AS "n" FROM "shop_order" GROUP BY "shop_order"."status" ORDER BY "shop_order"."status" ASC;
SELECT (1) AS "a" FROM "auth_user" WHERE "auth_user"."email" = 'user5@example.com' LIMIT 1;
SELECT "shop_orderitem"."id", "shop_orderitem"."quantity", "shop_product"."name" FROM "shop_orderitem" INNER JOIN "shop_product" ON ("shop_orderitem"."product_id" = "shop_product"."id") WHERE "shop_orderitem"."order_id" IN (1, 2, 3, 4, 5);
SELECT "shop_order"."id" FROM "shop_order" WHERE EXISTS(SELECT 1 AS "a" FROM "shop_orderitem" U1 WHERE (U1."order_id" = ("shop_order"."id") AND U1."quantity" > 3) LIMIT 1) AND "shop_order"."shop_id" = 4;
SELECT "shop_order"."id", CASE WHEN "shop_order"."total" > 500 THEN 'big' WHEN "shop_order"."total" > 100 THEN 'medium' ELSE 'small' END AS "size" FROM "shop_order" WHERE "shop_order"."customer_id" = 77;
SELECT "shop_order"."id" FROM "shop_order" WHERE ("shop_order"."metadata" ->> 'source') = 'app' AND "shop_order"."made_at" > (now() - '7 days'::interval);
UPDATE "shop_order" SET "status" = 'shipped' WHERE "shop_order"."id" = 100;
UPDATE "auth_user" SET "last_login" = '2024-05-01T10:00:00+00:00'::timestamptz WHERE "auth_user"."id" = 3;
INSERT INTO "shop_order" ("shop_id", "customer_id", "status", "total", "made_at", "metadata", "note") VALUES (1, 2, 'new', 10.5, '2024-05-01T10:00:00+00:00'::timestamptz, '{"source": "web"}', NULL) RETURNING "shop_order"."id";
DELETE FROM "shop_orderitem" WHERE "shop_orderitem"."id" IN (59999, 60000);
SELECT "auth_user"."id" FROM "auth_user" WHERE "auth_user"."date_joined"::date = '2024-03-01'::date;
SELECT "auth_user"."id" FROM "auth_user" WHERE EXTRACT(YEAR FROM "auth_user"."date_joined" AT TIME ZONE 'UTC') = 2024;
SELECT "shop_shop"."id", COUNT("shop_order"."id") AS "orders" FROM "shop_shop" LEFT OUTER JOIN "shop_order" ON ("shop_shop"."id" = "shop_order"."shop_id") WHERE "shop_shop"."owner_id" = 8 GROUP BY "shop_shop"."id";
SELECT "auth_user"."id" FROM "auth_user" WHERE UPPER("auth_user"."email"::text) = UPPER('User7@Example.com');

-- Rails / ActiveRecord
SELECT "posts".* FROM "posts" WHERE "posts"."account_id" = 3 ORDER BY "posts"."created_at" DESC LIMIT 10;
SELECT "posts".* FROM "posts" WHERE "posts"."id" = 7 LIMIT 1;
SELECT "posts".* FROM "posts" WHERE "posts"."user_id" IN (1, 2, 3) AND "posts"."state" = 1;
SELECT "posts".* FROM "posts" WHERE "posts"."published_at" IS NOT NULL AND "posts"."published_at" <= '2024-06-01 00:00:00' ORDER BY "posts"."published_at" DESC LIMIT 20 OFFSET 0;
SELECT COUNT(*) FROM "comments" WHERE "comments"."post_id" = 12;
SELECT "comments".* FROM "comments" WHERE "comments"."post_id" IN (10, 11, 12, 13);
SELECT "comments".* FROM "comments" INNER JOIN "posts" ON "posts"."id" = "comments"."post_id" WHERE "posts"."account_id" = 4 ORDER BY "comments"."created_at" DESC LIMIT 50;
SELECT "posts".* FROM "posts" WHERE (title ILIKE '%rails%') LIMIT 25;
SELECT "posts".* FROM "posts" WHERE "posts"."tags" && ARRAY['tag3']::varchar[];
SELECT "posts".* FROM "posts" WHERE "posts"."created_at" BETWEEN '2024-01-01 00:00:00' AND '2024-01-31 23:59:59.999999';
SELECT "accounts".* FROM "accounts" WHERE "accounts"."plan" = 'pro' AND "accounts"."created_at" > '2023-01-01 00:00:00';
SELECT 1 AS one FROM "posts" WHERE "posts"."account_id" = 9 LIMIT 1;
UPDATE "posts" SET "updated_at" = '2024-05-01 10:00:00.123456', "state" = 2 WHERE "posts"."id" = 15;
INSERT INTO "comments" ("post_id", "user_id", "body", "created_at", "updated_at") VALUES (5, 6, 'nice', '2024-05-01 10:00:00', '2024-05-01 10:00:00') RETURNING "id";
DELETE FROM "comments" WHERE "comments"."id" = 39999;
SELECT "posts"."account_id", COUNT(*) AS count_all FROM "posts" WHERE "posts"."state" = 2 GROUP BY "posts"."account_id" HAVING (COUNT(*) > 5);
SELECT "posts".* FROM "posts" WHERE "posts"."user_id" = 55 AND ("posts"."published_at" > now() - interval '30 days');
UPDATE "posts" SET "state" = 0 WHERE "posts"."account_id" = 12 AND "posts"."created_at" < '2020-01-01 00:00:00';
SELECT DISTINCT "posts"."user_id" FROM "posts" WHERE "posts"."account_id" = 14;
SELECT "posts".* FROM "posts" WHERE NOT EXISTS (SELECT 1 FROM "comments" WHERE "comments"."post_id" = "posts"."id") AND "posts"."account_id" = 2 LIMIT 10;

-- SQLAlchemy
SELECT invoice.id, invoice.customer_id, invoice.issued_on, invoice.amount FROM invoice WHERE invoice.customer_id = 44 ORDER BY invoice.issued_on DESC;
SELECT invoice.id AS invoice_id, invoice.amount AS invoice_amount FROM invoice WHERE invoice.due_on < CAST('2024-03-01' AS DATE) AND invoice.paid IS false;
SELECT invoice_line.id, invoice_line.qty * invoice_line.unit_price AS anon_1 FROM invoice_line WHERE invoice_line.invoice_id = 7;
SELECT count(*) AS count_1 FROM (SELECT invoice.id AS invoice_id FROM invoice WHERE invoice.currency = 'EUR') AS anon_1;
SELECT invoice.id, sum(invoice_line.qty * invoice_line.unit_price) AS total FROM invoice JOIN invoice_line ON invoice.id = invoice_line.invoice_id WHERE invoice.issued_on >= '2024-01-01' GROUP BY invoice.id ORDER BY total DESC LIMIT 10;
SELECT invoice.id FROM invoice WHERE invoice.id IN (SELECT invoice_line.invoice_id FROM invoice_line WHERE invoice_line.description LIKE '%' || 'line 4' || '%');
SELECT invoice.id, row_number() OVER (PARTITION BY invoice.customer_id ORDER BY invoice.issued_on DESC) AS anon_1 FROM invoice WHERE invoice.amount > 100;
WITH recent AS (SELECT invoice.id AS id, invoice.customer_id AS customer_id FROM invoice WHERE invoice.issued_on > date '2024-01-01') SELECT recent.customer_id, count(recent.id) AS n FROM recent GROUP BY recent.customer_id;
UPDATE invoice SET paid = true WHERE invoice.id = 12;
INSERT INTO invoice (customer_id, issued_on, due_on, amount, currency, paid) VALUES (1, '2024-05-01', '2024-05-31', 99.5, 'EUR', false) RETURNING invoice.id;
DELETE FROM invoice_line WHERE invoice_line.invoice_id = 14999;
SELECT invoice.id FROM invoice WHERE invoice.due_on - invoice.issued_on > 20 AND invoice.customer_id = 9;
SELECT invoice.currency, avg(invoice.amount) AS avg_1 FROM invoice WHERE invoice.issued_on BETWEEN '2023-01-01' AND '2023-12-31' GROUP BY invoice.currency;
SELECT invoice.id FROM invoice WHERE invoice.issued_on > current_date - 30 AND invoice.paid = false;
SELECT invoice.id FROM invoice WHERE (invoice.amount > 1000 OR invoice.currency = 'GBP') AND invoice.customer_id = 8 LIMIT 5 OFFSET 10;

-- Prisma
SELECT "public"."User"."id", "public"."User"."email", "public"."User"."name" FROM "public"."User" WHERE ("public"."User"."email" = 'u5@example.org' AND 1=1) LIMIT 1 OFFSET 0;
SELECT "public"."Post"."id", "public"."Post"."title" FROM "public"."Post" WHERE ("public"."Post"."authorId" = 'cl123' AND "public"."Post"."published" = true) ORDER BY "public"."Post"."createdAt" DESC LIMIT 10 OFFSET 0;
SELECT "public"."Post"."id", "public"."Post"."authorId" FROM "public"."Post" WHERE "public"."Post"."authorId" IN ('cla', 'clb', 'clc') OFFSET 0;
SELECT COUNT(*) FROM (SELECT "public"."Post"."id" FROM "public"."Post" WHERE "public"."Post"."published" = false OFFSET 0) AS "sub";
SELECT "public"."Post"."id" FROM "public"."Post" WHERE "public"."Post"."title"::text LIKE '%prisma%' OFFSET 0;
SELECT "public"."Post"."id" FROM "public"."Post" WHERE "public"."Post"."title" ILIKE '%Prisma%' OFFSET 0;
SELECT "public"."User"."id" FROM "public"."User" WHERE "public"."User"."createdAt" >= '2024-01-01 00:00:00' AND "public"."User"."role" = 'ADMIN' OFFSET 0;
SELECT "public"."User"."id" FROM "public"."User" WHERE "public"."User"."profile"#>ARRAY['age']::text[] = '30'::jsonb OFFSET 0;
UPDATE "public"."Post" SET "viewCount" = ("viewCount" + 1) WHERE ("public"."Post"."id" = 10 AND 1=1) RETURNING "public"."Post"."id";
INSERT INTO "public"."Post" ("authorId","title","published","viewCount","createdAt") VALUES ('cl' || md5('1'),'hello',false,0,'2024-05-01 10:00:00') RETURNING "public"."Post"."id";
DELETE FROM "public"."Post" WHERE ("public"."Post"."id" = 19999 AND 1=1);
SELECT "public"."User"."id", COALESCE("aggr_selection_0_Post"."_aggr_count_posts", 0) AS "_aggr_count_posts" FROM "public"."User" LEFT JOIN (SELECT "public"."Post"."authorId", COUNT(*) AS "_aggr_count_posts" FROM "public"."Post" WHERE 1=1 GROUP BY "public"."Post"."authorId") AS "aggr_selection_0_Post" ON ("public"."User"."id" = "aggr_selection_0_Post"."authorId") WHERE 1=1 ORDER BY "public"."User"."createdAt" DESC LIMIT 5 OFFSET 0;

-- Hibernate
select c1_0.id,c1_0.country,c1_0.email,c1_0.first_name,c1_0.last_name from customer c1_0 where c1_0.email=('c5@example.net');
select p1_0.id,p1_0.amount,p1_0.status from purchase_order p1_0 where p1_0.customer_id=7 order by p1_0.order_date desc fetch first 20 rows only;
select p1_0.id from purchase_order p1_0 join customer c1_0 on c1_0.id=p1_0.customer_id where c1_0.country='DE' and p1_0.status='OPEN';
select count(p1_0.id) from purchase_order p1_0 where p1_0.order_date between '2024-01-01 00:00:00' and '2024-02-01 00:00:00';
select c1_0.id from customer c1_0 where lower(c1_0.last_name) like lower('%last1%') escape '' offset 0 rows fetch first 10 rows only;
update customer set email='new@example.net',version=1 where id=10 and version=0;
insert into purchase_order (amount,customer_id,order_date,status,id) values (10.5,3,'2024-05-01 10:00:00','OPEN',30001);
delete from purchase_order where id=30001;
select p1_0.status,sum(p1_0.amount) from purchase_order p1_0 where p1_0.customer_id in (1,2,3,4) group by p1_0.status;
select c1_0.id from customer c1_0 where c1_0.created_at>=cast('2024-01-01 00:00:00' as timestamp(6)) and c1_0.country in ('FR','JP');
select c1_0.id,(select max(p2_0.order_date) from purchase_order p2_0 where p2_0.customer_id=c1_0.id) from customer c1_0 where c1_0.country='US' fetch first 50 rows only;

-- Hand-written SQL
SELECT x.id, x.kind FROM events x WHERE x.owner_id = 12 AND x.made_at > now() - interval '7 days';
SELECT id FROM events WHERE shop_id = 5 AND made_at >= now() - ('7' || ' days')::interval AND kind = 'buy';
SELECT id FROM events WHERE made_at::date = date '2024-03-01';
SELECT id FROM events WHERE made_at > timestamp '2024-01-01 00:00:00' AND made_at < timestamptz '2024-02-01 00:00:00+00';
SELECT id FROM events WHERE made_at::time > time '12:00';
SELECT id FROM events WHERE duration > interval '5 minutes' AND owner_id = 3;
SELECT id FROM events WHERE owner_id = ANY('{1,2,3}'::int[]);
SELECT id FROM events WHERE kind = ANY(ARRAY['click', 'view']);
SELECT id FROM events WHERE payload->>'page' = '/p/12';
SELECT id FROM events WHERE (payload->>'ms')::int > 500 AND shop_id = 3;
SELECT id FROM events WHERE payload @> '{"page": "/p/7"}';
SELECT id FROM events WHERE payload #>> '{page}' LIKE '/p/1%';
SELECT id FROM events WHERE kind LIKE '%' || 'lic' || '%';
SELECT DISTINCT ON (owner_id) owner_id, made_at, kind FROM events WHERE shop_id = 4 ORDER BY owner_id, made_at DESC;
SELECT owner_id, count(*) FILTER (WHERE kind = 'buy') AS buys, count(*) AS all_events FROM events WHERE made_at > now() - interval '1 day' GROUP BY owner_id;
SELECT id, made_at, lag(made_at) OVER (PARTITION BY owner_id ORDER BY made_at) AS previous FROM events WHERE owner_id = 9;
SELECT owner_id, sum(count(*)) OVER () AS total FROM events WHERE shop_id = 2 GROUP BY owner_id;
WITH top_shops AS (SELECT shop_id, count(*) AS n FROM events WHERE kind = 'buy' GROUP BY shop_id ORDER BY n DESC LIMIT 10) SELECT s.name, t.n FROM top_shops t JOIN shop_shop s ON s.id = t.shop_id;
WITH RECURSIVE days(d) AS (SELECT date '2024-01-01' UNION ALL SELECT d + 1 FROM days WHERE d < date '2024-01-31') SELECT d, (SELECT count(*) FROM events e WHERE e.made_at::date = d) FROM days;
SELECT s.id, last_event.made_at FROM shop_shop s CROSS JOIN LATERAL (SELECT e.made_at FROM events e WHERE e.shop_id = s.id ORDER BY e.made_at DESC LIMIT 1) last_event WHERE s.owner_id = 10;
SELECT s.id FROM shop_shop s WHERE EXISTS (SELECT 1 FROM events e WHERE e.shop_id = s.id AND e.kind = 'login');
SELECT id FROM events WHERE owner_id IN (SELECT id FROM auth_user WHERE is_staff) AND made_at > '2024-01-01';
SELECT date_trunc('hour', made_at) AS hour, count(*) FROM events WHERE made_at > now() - interval '2 days' GROUP BY 1 ORDER BY 1;
SELECT id FROM events WHERE tags && '{e1,e2}' AND owner_id = 77;
SELECT id FROM events WHERE coalesce(payload->>'ref', 'none') = 'none' AND shop_id = 8 LIMIT 100;
SELECT id, CASE kind WHEN 'buy' THEN 3 WHEN 'view' THEN 1 ELSE 0 END AS score FROM events WHERE owner_id = 5;
SELECT id FROM events WHERE made_at > now() - make_interval(days => 3) AND kind <> 'view';
SELECT id FROM events WHERE extract(epoch FROM now() - made_at) < 3600;
SELECT id FROM events WHERE to_char(made_at, 'YYYY-MM') = '2024-03';
SELECT id FROM events ORDER BY made_at DESC LIMIT 10 OFFSET 20;
INSERT INTO events (owner_id, shop_id, kind, made_at, payload) VALUES (1, 2, 'view', now(), '{"page": "/"}') ON CONFLICT (id) DO NOTHING;
INSERT INTO events (id, owner_id, shop_id, kind, made_at, payload) VALUES (1, 1, 2, 'view', now(), '{}') ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, made_at = EXCLUDED.made_at;
UPDATE events e SET kind = 'buy' FROM shop_shop s WHERE s.id = e.shop_id AND s.slug = 'shop-9' AND e.owner_id = 4;
UPDATE events SET payload = payload || '{"seen": true}' WHERE id = 42;
UPDATE events SET payload = jsonb_set(payload, '{ms}', '0') WHERE owner_id = 6 AND made_at < now() - interval '1 year';
DELETE FROM events WHERE made_at < now() - interval '5 years' AND kind = 'view';
SELECT e.id, u.username FROM events e JOIN auth_user u ON u.id = e.owner_id WHERE e.shop_id = 7 AND u.is_active ORDER BY e.made_at DESC LIMIT 30;
SELECT greatest(made_at, now() - interval '1 hour') FROM events WHERE owner_id = 90;
SELECT id FROM events WHERE (owner_id, shop_id) IN ((1, 2), (3, 4));
SELECT id FROM events WHERE made_at >= date_trunc('month', now()) - interval '1 month' AND made_at < date_trunc('month', now());
SELECT kind, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) FROM events WHERE shop_id = 11 GROUP BY kind;
SELECT id FROM events WHERE owner_id = 1 UNION SELECT id FROM events WHERE shop_id = 1;
SELECT id FROM events WHERE owner_id = 3 FOR UPDATE SKIP LOCKED;
SELECT id FROM events WHERE kind ~ '^cl' AND shop_id = 12;
SELECT id FROM events WHERE payload->'ms' IS NOT NULL AND jsonb_typeof(payload->'ms') = 'number' AND owner_id = 8;
SELECT id, made_at AT TIME ZONE 'Europe/Berlin' FROM events WHERE owner_id = 33;
SELECT count(*) FROM events WHERE made_at BETWEEN now() - interval '1 hour' AND now() AND 'e3' = ANY(tags);
