-- pgbench (PostgreSQL 16) built-in scripts as the server receives them.
--   * -M simple: pgbench substitutes :variables textually, so values arrive
--     as literals (a negative :delta gives "abalance + -2931").
--   * -M extended / -M prepared: each :variable becomes $n, in order of first
--     appearance in the command.
-- Also the statements of "pgbench -i" and the checks pgbench runs before a
-- test. The \set meta-commands are evaluated client-side and never reach the
-- server, so they appear only in these comments:
--   \set aid random(1, 100000 * :scale)
--   \set bid random(1, 1 * :scale)
--   \set tid random(1, 10 * :scale)
--   \set delta random(-5000, 5000)
-- Written for brisk.

-- pgbench -b tpcb-like -M simple: transaction start
BEGIN;

-- pgbench -b tpcb-like -M simple: UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid (negative delta)
UPDATE pgbench_accounts SET abalance = abalance + -2931 WHERE aid = 38475;

-- pgbench -b tpcb-like -M simple: SELECT abalance FROM pgbench_accounts WHERE aid = :aid
SELECT abalance FROM pgbench_accounts WHERE aid = 38475;

-- pgbench -b tpcb-like -M simple: UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid
UPDATE pgbench_tellers SET tbalance = tbalance + -2931 WHERE tid = 7;

-- pgbench -b tpcb-like -M simple: UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid
UPDATE pgbench_branches SET bbalance = bbalance + -2931 WHERE bid = 1;

-- pgbench -b tpcb-like -M simple: INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP)
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 38475, -2931, CURRENT_TIMESTAMP);

-- pgbench -b tpcb-like -M simple: transaction end (the script says END)
END;

-- pgbench -b tpcb-like -M simple: next transaction, positive delta
UPDATE pgbench_accounts SET abalance = abalance + 4410 WHERE aid = 91002;

-- pgbench -b tpcb-like -M simple: next transaction, positive delta
UPDATE pgbench_tellers SET tbalance = tbalance + 4410 WHERE tid = 3;

-- pgbench -b tpcb-like -M simple: next transaction, positive delta
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 91002, 4410, CURRENT_TIMESTAMP);

-- pgbench -b select-only (-S) -M simple: SELECT abalance FROM pgbench_accounts WHERE aid = :aid
SELECT abalance FROM pgbench_accounts WHERE aid = 61290;

-- pgbench -b tpcb-like -M extended
BEGIN;

-- pgbench -b tpcb-like -M extended: :delta -> $1, :aid -> $2
UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;

-- pgbench -b tpcb-like -M extended: :aid -> $1
SELECT abalance FROM pgbench_accounts WHERE aid = $1;

-- pgbench -b tpcb-like -M extended: :delta -> $1, :tid -> $2
UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;

-- pgbench -b tpcb-like -M extended: :delta -> $1, :bid -> $2
UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;

-- pgbench -b tpcb-like -M extended: :tid, :bid, :aid, :delta -> $1..$4
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);

-- pgbench -b tpcb-like -M extended
END;

-- pgbench -b simple-update (-N) -M simple: the tellers/branches updates are skipped; accounts update, select, history insert remain
UPDATE pgbench_accounts SET abalance = abalance + 17 WHERE aid = 2209;

-- pgbench -b simple-update (-N) -M simple
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (9, 1, 2209, 17, CURRENT_TIMESTAMP);

-- pgbench -i: drop existing tables
drop table if exists pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers;

-- pgbench -i: create tables
create table pgbench_history(tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22));

-- pgbench -i: create tables
create table pgbench_tellers(tid int not null,bid int,tbalance int,filler char(84)) with (fillfactor=100);

-- pgbench -i: create tables
create table pgbench_accounts(aid    int not null,bid int,abalance int,filler char(84)) with (fillfactor=100);

-- pgbench -i: create tables
create table pgbench_branches(bid int not null,bbalance int,filler char(88)) with (fillfactor=100);

-- pgbench -i: data generation runs in one transaction
begin;

-- pgbench -i: data generation
truncate table pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers;

-- pgbench -i -I g (client-side generation): branches
insert into pgbench_branches(bid,bbalance) values(1,0);

-- pgbench -i -I g (client-side generation): tellers
insert into pgbench_tellers(tid,bid,tbalance) values (1,1,0);

-- pgbench -i -I g (client-side generation): accounts streamed with COPY
copy pgbench_accounts from stdin with (freeze on);

-- pgbench -i -I G (server-side generation): branches
insert into pgbench_branches(bid,bbalance) select bid, 0 from generate_series(1, 1) as bid;

-- pgbench -i -I G (server-side generation): tellers
insert into pgbench_tellers(tid,bid,tbalance) select tid, (tid - 1) / 10 + 1, 0 from generate_series(1, 10) as tid;

-- pgbench -i -I G (server-side generation): accounts
insert into pgbench_accounts(aid,bid,abalance,filler) select aid, (aid - 1) / 100000 + 1, 0, '' from generate_series(1, 100000) as aid;

-- pgbench -i: end of data generation
commit;

-- pgbench -i: vacuum step
vacuum analyze pgbench_branches;

-- pgbench -i: vacuum step
vacuum analyze pgbench_accounts;

-- pgbench -i: primary keys step
alter table pgbench_branches add primary key (bid);

-- pgbench -i: primary keys step
alter table pgbench_tellers add primary key (tid);

-- pgbench -i: primary keys step
alter table pgbench_accounts add primary key (aid);

-- pgbench -i --foreign-keys
alter table pgbench_tellers add constraint pgbench_tellers_bid_fkey foreign key (bid) references pgbench_branches;

-- pgbench (run): scale detection
select count(*) from pgbench_branches;

-- pgbench (run): partitioning detection for pgbench_accounts
select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) cross join lateral (select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) left join pg_catalog.pg_inherits as i on (c.oid = i.inhparent) where c.relname = 'pgbench_accounts' and o.n is not null group by 1, 2 order by 1 asc limit 1;

-- pgbench (run, without -n): vacuum before the test
vacuum pgbench_branches;

-- pgbench (run, without -n): vacuum before the test
vacuum pgbench_tellers;

-- pgbench (run, without -n): clear history before the test
truncate pgbench_history;
