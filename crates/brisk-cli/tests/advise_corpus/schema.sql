-- The schemas of the advisor's corpus: one application per ORM style, with enough rows
-- that the planner has statistics and a choice of plans.

-- Django (app_model tables, integer keys, varchar with lengths, jsonb).
CREATE TABLE auth_user (
    id serial PRIMARY KEY, username varchar(150) NOT NULL UNIQUE, email varchar(254) NOT NULL,
    first_name varchar(150) NOT NULL, is_active boolean NOT NULL, is_staff boolean NOT NULL,
    date_joined timestamptz NOT NULL, last_login timestamptz);
CREATE TABLE shop_shop (
    id serial PRIMARY KEY, name varchar(100) NOT NULL, slug varchar(50) NOT NULL,
    owner_id integer NOT NULL REFERENCES auth_user, created timestamptz NOT NULL);
CREATE TABLE shop_product (
    id serial PRIMARY KEY, shop_id integer NOT NULL REFERENCES shop_shop, name varchar(200) NOT NULL,
    sku varchar(32) NOT NULL, price numeric(10, 2) NOT NULL, tags text[] NOT NULL,
    attributes jsonb NOT NULL, created date NOT NULL);
CREATE TABLE shop_order (
    id bigserial PRIMARY KEY, shop_id integer NOT NULL REFERENCES shop_shop,
    customer_id integer NOT NULL REFERENCES auth_user, status varchar(20) NOT NULL,
    total numeric(10, 2) NOT NULL, made_at timestamptz NOT NULL, metadata jsonb NOT NULL,
    note text);
CREATE TABLE shop_orderitem (
    id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES shop_order,
    product_id integer NOT NULL REFERENCES shop_product, quantity integer NOT NULL,
    price numeric(10, 2) NOT NULL);

-- Rails / ActiveRecord (bigint keys, timestamp(6) created_at/updated_at, integer enums).
CREATE TABLE accounts (
    id bigserial PRIMARY KEY, name varchar NOT NULL, plan varchar NOT NULL,
    created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL);
CREATE TABLE posts (
    id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts,
    user_id bigint NOT NULL, title varchar NOT NULL, body text NOT NULL,
    published_at timestamp(6), state integer NOT NULL DEFAULT 0, tags varchar[] NOT NULL DEFAULT '{}',
    created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL);
CREATE TABLE comments (
    id bigserial PRIMARY KEY, post_id bigint NOT NULL REFERENCES posts, user_id bigint NOT NULL,
    body text NOT NULL, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL);

-- SQLAlchemy (singular names, dates, char codes).
CREATE TABLE invoice (
    id serial PRIMARY KEY, customer_id integer NOT NULL, issued_on date NOT NULL,
    due_on date NOT NULL, amount numeric(12, 2) NOT NULL, currency char(3) NOT NULL,
    paid boolean NOT NULL);
CREATE TABLE invoice_line (
    id serial PRIMARY KEY, invoice_id integer NOT NULL REFERENCES invoice,
    description text NOT NULL, qty integer NOT NULL, unit_price numeric(12, 2) NOT NULL);

-- Prisma (quoted PascalCase tables, camelCase columns, text ids, timestamp(3)).
CREATE TABLE "User" (
    "id" text PRIMARY KEY, "email" text NOT NULL UNIQUE, "name" text, "role" text NOT NULL,
    "createdAt" timestamp(3) NOT NULL, "profile" jsonb);
CREATE TABLE "Post" (
    "id" serial PRIMARY KEY, "authorId" text NOT NULL REFERENCES "User", "title" text NOT NULL,
    "content" text, "published" boolean NOT NULL, "viewCount" integer NOT NULL,
    "createdAt" timestamp(3) NOT NULL);

-- Hibernate (bigint ids, varchar(255), version columns).
CREATE TABLE customer (
    id bigint PRIMARY KEY, first_name varchar(255), last_name varchar(255), email varchar(255),
    country varchar(255), created_at timestamp(6), version integer);
CREATE TABLE purchase_order (
    id bigint PRIMARY KEY, customer_id bigint REFERENCES customer, order_date timestamp(6),
    amount numeric(19, 2), status varchar(255));

-- Hand-written SQL.
CREATE TABLE events (
    id bigserial PRIMARY KEY, owner_id integer NOT NULL, shop_id integer NOT NULL,
    kind text NOT NULL, made_at timestamptz NOT NULL, payload jsonb NOT NULL,
    duration interval, tags text[] NOT NULL DEFAULT '{}');

INSERT INTO auth_user (username, email, first_name, is_active, is_staff, date_joined, last_login)
    SELECT 'user' || g, 'user' || g || '@example.com', 'Name' || (g % 300), g % 10 <> 0, g % 50 = 0,
           now() - g * interval '1 hour', CASE WHEN g % 3 = 0 THEN NULL ELSE now() - g * interval '1 minute' END
    FROM generate_series(1, 5000) g;
INSERT INTO shop_shop (name, slug, owner_id, created)
    SELECT 'Shop ' || g, 'shop-' || g, 1 + g % 5000, now() - g * interval '1 day' FROM generate_series(1, 200) g;
INSERT INTO shop_product (shop_id, name, sku, price, tags, attributes, created)
    SELECT 1 + g % 200, 'Product ' || md5(g::text), 'SKU' || g, (g % 500) + 0.99,
           ARRAY['t' || (g % 30), 'c' || (g % 7)], jsonb_build_object('color', (ARRAY['red', 'blue', 'green'])[1 + g % 3], 'size', g % 5),
           current_date - (g % 700)
    FROM generate_series(1, 10000) g;
INSERT INTO shop_order (shop_id, customer_id, status, total, made_at, metadata, note)
    SELECT 1 + g % 200, 1 + (g * 7) % 5000, (ARRAY['new', 'paid', 'shipped', 'cancelled'])[1 + g % 4],
           (g % 1000) + 0.5, now() - g * interval '2 minutes',
           jsonb_build_object('source', (ARRAY['web', 'app', 'pos'])[1 + g % 3], 'coupon', g % 11 = 0),
           CASE WHEN g % 5 = 0 THEN 'gift for ' || g END
    FROM generate_series(1, 30000) g;
INSERT INTO shop_orderitem (order_id, product_id, quantity, price)
    SELECT 1 + g % 30000, 1 + (g * 13) % 10000, 1 + g % 4, (g % 300) + 0.25 FROM generate_series(1, 60000) g;
INSERT INTO accounts (name, plan, created_at, updated_at)
    SELECT 'Account ' || g, (ARRAY['free', 'pro', 'enterprise'])[1 + g % 3], now() - g * interval '1 day', now()
    FROM generate_series(1, 500) g;
INSERT INTO posts (account_id, user_id, title, body, published_at, state, tags, created_at, updated_at)
    SELECT 1 + g % 500, 1 + g % 5000, 'Post about ' || md5(g::text), 'body ' || repeat(md5(g::text), 3),
           CASE WHEN g % 4 = 0 THEN NULL ELSE now() - g * interval '10 minutes' END, g % 3,
           ARRAY['tag' || (g % 20)]::varchar[], now() - g * interval '10 minutes', now() - g * interval '5 minutes'
    FROM generate_series(1, 20000) g;
INSERT INTO comments (post_id, user_id, body, created_at, updated_at)
    SELECT 1 + g % 20000, 1 + g % 5000, 'comment ' || md5(g::text), now() - g * interval '3 minutes', now()
    FROM generate_series(1, 40000) g;
INSERT INTO invoice (customer_id, issued_on, due_on, amount, currency, paid)
    SELECT 1 + g % 3000, current_date - g % 900, current_date - g % 900 + 30, (g % 5000) + 0.01,
           (ARRAY['EUR', 'USD', 'GBP'])[1 + g % 3], g % 4 <> 0
    FROM generate_series(1, 15000) g;
INSERT INTO invoice_line (invoice_id, description, qty, unit_price)
    SELECT 1 + g % 15000, 'line ' || g, 1 + g % 9, (g % 200) + 0.5 FROM generate_series(1, 40000) g;
INSERT INTO "User" ("id", "email", "name", "role", "createdAt", "profile")
    SELECT 'cl' || md5(g::text), 'u' || g || '@example.org', 'User ' || g, (ARRAY['USER', 'ADMIN'])[1 + (g % 20 = 0)::int],
           now() - g * interval '30 minutes', jsonb_build_object('bio', 'bio ' || g, 'age', 18 + g % 60)
    FROM generate_series(1, 5000) g;
INSERT INTO "Post" ("authorId", "title", "content", "published", "viewCount", "createdAt")
    SELECT 'cl' || md5((1 + g % 5000)::text), 'Title ' || md5(g::text), 'content ' || g, g % 3 <> 0, g % 1000,
           now() - g * interval '7 minutes'
    FROM generate_series(1, 20000) g;
INSERT INTO customer (id, first_name, last_name, email, country, created_at, version)
    SELECT g, 'First' || g, 'Last' || (g % 900), 'c' || g || '@example.net', (ARRAY['DE', 'FR', 'US', 'JP'])[1 + g % 4],
           now() - g * interval '1 hour', 0
    FROM generate_series(1, 8000) g;
INSERT INTO purchase_order (id, customer_id, order_date, amount, status)
    SELECT g, 1 + g % 8000, now() - g * interval '15 minutes', (g % 700) + 0.99, (ARRAY['OPEN', 'CLOSED'])[1 + g % 2]
    FROM generate_series(1, 30000) g;
INSERT INTO events (owner_id, shop_id, kind, made_at, payload, duration, tags)
    SELECT 1 + g % 1000, 1 + g % 200, (ARRAY['click', 'view', 'buy', 'login'])[1 + g % 4],
           now() - g * interval '30 seconds', jsonb_build_object('page', '/p/' || (g % 300), 'ms', g % 900),
           (g % 600) * interval '1 second', ARRAY['e' || (g % 12)]
    FROM generate_series(1, 50000) g;
ANALYZE;
