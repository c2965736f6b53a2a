#!/usr/bin/env python3
"""Writes a realistic PostgreSQL log of SIZE_MB megabytes twice: as stderr with pgBadger's
recommended prefix and as csvlog, with the same events (used by scripts/bench-logs).

Events: a web app's statements (simple protocol with literals, extended protocol with
`execute <unnamed>` and `DETAIL:  parameters:`, multi-line statements), errors with their
STATEMENT, connections and disconnections, temp files, lock waits, checkpoints, autovacuum.

    scripts/gen-pg-log.py SIZE_MB OUT.log OUT.csv [SEED]
"""
import random
import sys

PREFIX = "%t [%p]: user=%u,db=%d,app=%a,client=%h "

SIMPLE = [
    ("SELECT id, email, name FROM users WHERE id = {i}", 0.3),
    ("SELECT * FROM orders WHERE user_id = {i} ORDER BY created_at DESC LIMIT 20", 2.5),
    ("SELECT count(*) FROM orders WHERE status = '{s}'", 40.0),
    ("UPDATE users SET last_seen = now() WHERE id = {i}", 0.8),
    ("INSERT INTO events (user_id, kind, payload) VALUES ({i}, '{s}', '{{\"n\": {j}}}')", 0.5),
    ("SELECT p.id, p.title, c.name\n\tFROM products p\n\tJOIN categories c ON c.id = p.category_id\n\tWHERE p.price > {j} AND c.slug = '{s}'", 12.0),
    ("DELETE FROM sessions WHERE expires_at < now() - interval '{j} days'", 25.0),
    ("BEGIN", 0.02),
    ("COMMIT", 0.1),
    ("SELECT o.id, sum(i.qty * i.price) FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.created_at > '2026-12-0{d}' GROUP BY o.id", 180.0),
    ("SELECT * FROM products WHERE id IN ({i}, {j}, {k})", 0.6),
    ("SELECT 1", 0.01),
    ("SELECT id FROM coupons WHERE code = '{s}' AND valid_until > now()", 0.4),
    ("UPDATE inventory SET stock = stock - {k} WHERE product_id = {i}", 1.1),
    ("SELECT * FROM addresses WHERE user_id = {i}", 0.3),
    ("INSERT INTO audit_log (actor, action) VALUES ({i}, 'login')", 0.6),
    ("SELECT count(*) FROM notifications WHERE user_id = {i} AND read_at IS NULL", 3.0),
    ("SELECT name FROM categories ORDER BY position LIMIT {k}", 0.2),
]
EXTENDED = [
    ("SELECT id, title FROM conversations WHERE user_id = $1 AND is_archived = $2 ORDER BY updated_at DESC LIMIT $3", 1.2, 3),
    ("SELECT * FROM messages WHERE conversation_id = $1", 0.4, 1),
    ("INSERT INTO messages (conversation_id, body) VALUES ($1, $2) RETURNING id", 0.9, 2),
    ("UPDATE carts SET qty = $1 WHERE id = $2", 0.7, 2),
]
USERS = ["web", "worker", "admin"]
DBS = ["shop", "shop", "shop", "analytics"]
APPS = ["rails", "sidekiq", "psql", "metabase"]
STATUSES = ["paid", "pending", "shipped", "it's"]


def csv_quote(value):
    if value is None or value == "":
        return ""
    return '"' + value.replace('"', '""') + '"'


def main():
    size = int(sys.argv[1]) * 1_000_000
    out_log, out_csv = sys.argv[2], sys.argv[3]
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 17)
    t = 1_796_515_200.0  # 2026-12-06 00:00:00 UTC
    log = open(out_log, "w", buffering=1 << 20)
    csv = open(out_csv, "w", buffering=1 << 20)
    written = 0
    session_line = {}

    def stamp(ts):
        import time as _t
        base = _t.strftime("%Y-%m-%d %H:%M:%S", _t.gmtime(ts))
        return base, "%s.%03d UTC" % (base, int(ts * 1000) % 1000)

    def emit(ts, pid, user, db, app, host, level, message, attached=(), sqlstate="00000"):
        nonlocal written
        sec, ms = stamp(ts)
        prefix = f"{sec} UTC [{pid}]: user={user},db={db},app={app},client={host} "
        lines = [prefix + f"{level}:  " + message]
        detail = query = context = ""
        for kind, text in attached:
            lines.append(prefix + f"{kind}:  " + text)
            if kind == "DETAIL":
                detail = text
            elif kind == "STATEMENT":
                query = text
            elif kind == "CONTEXT":
                context = text
        text = "\n".join(lines) + "\n"
        log.write(text)
        n = session_line.get(pid, 0) + 1
        session_line[pid] = n
        row = ",".join([
            ms, csv_quote(user), csv_quote(db), str(pid), csv_quote(host + ":5432" if host != "[local]" else host),
            "%x.%x" % (1796515200, pid), str(n), csv_quote("SELECT"), sec + " UTC", "3/%d" % n, "0",
            level, sqlstate, csv_quote(message.replace("\n\t", "\n")), csv_quote(detail), "", "", "", csv_quote(context),
            csv_quote(query), "", "", csv_quote(app), csv_quote("client backend"), "", "0",
        ])
        csv.write(row + "\n")
        written += len(text)

    while written < size:
        t += rng.expovariate(2000.0)
        pid = 10000 + rng.randrange(200)
        user, db, app = rng.choice(USERS), rng.choice(DBS), rng.choice(APPS)
        host = "10.0.%d.%d" % (rng.randrange(4), rng.randrange(250))
        r = rng.random()
        if r < 0.55:
            template, mean = SIMPLE[min(int(rng.paretovariate(1.2)) - 1, len(SIMPLE) - 1)]
            sql = template.format(i=rng.randrange(1, 100000), j=rng.randrange(1, 500),
                                  k=rng.randrange(1, 9), d=rng.randrange(1, 7), s=rng.choice(STATUSES).replace("'", "''"))
            ms = rng.expovariate(1.0 / mean)
            emit(t, pid, user, db, app, host, "LOG", "duration: %.3f ms  statement: %s" % (ms, sql))
        elif r < 0.93:
            sql, mean, nparams = rng.choice(EXTENDED)
            ms = rng.expovariate(1.0 / mean)
            params = ", ".join("$%d = '%d'" % (n + 1, rng.randrange(1, 10**6)) for n in range(nparams))
            emit(t, pid, user, db, app, host, "LOG", "duration: %.3f ms  execute <unnamed>: %s" % (ms, sql),
                 [("DETAIL", "parameters: " + params)])
        elif r < 0.95:
            emit(t, pid, user, db, app, host, "ERROR", 'relation "tmp_%d" does not exist at character 15' % rng.randrange(50),
                 [("STATEMENT", "SELECT * FROM tmp_%d" % rng.randrange(50))], "42P01")
        elif r < 0.97:
            emit(t, pid, user, db, app, host, "LOG", "connection received: host=%s port=%d" % (host, rng.randrange(30000, 60000)))
            emit(t, pid, user, db, app, host, "LOG", "connection authorized: user=%s database=%s application_name=%s" % (user, db, app))
        elif r < 0.99:
            emit(t, pid, user, db, app, host, "LOG", "disconnection: session time: 0:%02d:%06.3f user=%s database=%s host=%s port=5432"
                 % (rng.randrange(60), rng.random() * 60, user, db, host))
        elif r < 0.995:
            emit(t, pid, user, db, app, host, "LOG", 'temporary file: path "base/pgsql_tmp/pgsql_tmp%d.0", size %d' % (pid, rng.randrange(10**6, 10**8)),
                 [("STATEMENT", "SELECT o.id, sum(i.qty * i.price) FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id")])
        elif r < 0.998:
            emit(t, pid, user, db, app, host, "LOG", "process %d still waiting for ShareLock on transaction %d after 1000.%03d ms" % (pid, rng.randrange(10**6), rng.randrange(1000)),
                 [("DETAIL", "Process holding the lock: 123. Wait queue: %d." % pid), ("CONTEXT", "while updating tuple (0,1) in relation \"carts\""),
                  ("STATEMENT", "UPDATE carts SET qty = $1 WHERE id = $2")])
        else:
            emit(t, 99, "", "", "", "", "LOG", "checkpoint complete: wrote %d buffers (0.1%%); 0 WAL file(s) added, 0 removed, 1 recycled; write=%.3f s, sync=0.002 s, total=%.3f s; sync files=3, longest=0.001 s, average=0.001 s; distance=%d kB, estimate=%d kB"
                 % (rng.randrange(10000), rng.random() * 30, rng.random() * 30, rng.randrange(10**5), rng.randrange(10**5)))
    log.close()
    csv.close()
    print(PREFIX)


if __name__ == "__main__":
    main()
