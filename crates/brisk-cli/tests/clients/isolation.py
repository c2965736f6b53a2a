"""Session isolation through brisk proxy: a randomized differential test.

Each of --clients clients runs a random sequence of operations drawn from its seed: SET,
SET LOCAL, RESET, RESET ALL and SET ... TO DEFAULT of replayed and other settings, prepared
statements (protocol-level, named and unnamed, with Close; SQL PREPARE/EXECUTE/DEALLOCATE),
DISCARD ALL, temporary tables, advisory locks, LISTEN/NOTIFY, cursors, transactions that
commit, roll back or fail, a cancelled pg_sleep, and a disconnect in the middle of a
transaction. The same sequences run once on direct connections to PostgreSQL and once
through the proxy, all clients at once so that they share its few servers. Every
observation must be equal: each SHOW, each result, each error's SQLSTATE, and what an
observer connection (direct) sees of the client's session: its advisory locks, its
temporary tables, its committed rows, the notifications it receives.

Names (lock keys, channels, tables) are drawn from a namespace unique to each run, so that
runs cannot see each other; values compared (settings, payloads, results) come from the
seed only.

    isolation.py --driver psycopg|asyncpg --direct URL --proxy URL --seed 7 [--seed 8]
    isolation.py ... --minutes 10          # random seeds until the time is up

Prints every difference (seed, client, first differing step, both observations and the
steps that led to it), then `OK <sequences> <operations>` when all agree; exits 1 on a
difference.
"""
import argparse
import asyncio
import random
import secrets
import sys
import time

# Settings whose changes PostgreSQL reports (GUC_REPORT): the proxy replays them on every
# server a client gets. Values per driver: asyncpg insists on UTF8 as client_encoding.
TRACKED = {
    "application_name": ["alpha", "beta", "gamma"],
    "client_encoding": {"psycopg": ["UTF8", "LATIN1", "WIN1252"], "asyncpg": ["UTF8", "unicode"]},
    "DateStyle": ["ISO, MDY", "SQL, DMY", "German, DMY", "Postgres, YMD"],
    "IntervalStyle": ["postgres", "iso_8601", "sql_standard", "postgres_verbose"],
    "TimeZone": ["UTC", "Pacific/Chatham", "America/New_York", "Asia/Kolkata"],
    "standard_conforming_strings": ["on", "off"],
}
# Settings the proxy cannot replay: a SET of one outside a transaction pins the client.
UNTRACKED = {
    "work_mem": ["64kB", "1MB", "8MB"],
    "search_path": ["public", "pg_catalog, public", '"$user", public'],
    "statement_timeout": ["0", "1min", "90s"],
    "lock_timeout": ["0", "2min", "45s"],
}
ALL_SETTINGS = list(TRACKED) + list(UNTRACKED)

# Every setting, and how dates, times and intervals print under them, in one row.
SHOW_ALL = (
    "SELECT "
    + ", ".join(f"current_setting('{name}')" for name in ALL_SETTINGS)
    + ", '2020-01-02 03:04:05+00'::timestamptz::text, '1 day 02:03:04'::interval::text"
)

# Where PostgreSQL directly and a transaction pooler must differ by design, the harness does
# not look. This is the one place that says what it leaves out, and why:
# - pg_backend_pid(), pg_stat_activity and pg_prepared_statements name the server process
#   and the statements on it: through a pooler they are the server's (shared, renamed),
#   whatever the proxy does. No operation observes them.
# - A cancel sent while the client still waits for a server has nothing to cancel: the
#   cancel operation waits until its statement runs (as an application cancelling a slow
#   query does) before it cancels.
# - Notifications arrive asynchronously: a client that listens waits a bounded time for
#   each one (NOTIFY_WAIT) on both paths.
NOTIFY_WAIT = 0.5

# Bounds: a statement, and a whole path (direct runs take a few seconds). A proxy that
# loses its servers makes every statement wait; the clients cut short then differ.
OP_TIMEOUT = 10.0
PATH_TIMEOUT = 60.0


def plan(seed, client, steps, driver, kinds_wanted):
    """The startup settings and the operations of one client, from its seed alone (and the
    kinds of operation asked for, when a difference is being narrowed down)."""
    rng = random.Random(f"{seed}:{client}:{driver}")
    startup = {}
    if rng.random() < 0.5:
        startup["application_name"] = f"c{client}"
    if driver == "asyncpg" and rng.random() < 0.3:
        startup["TimeZone"] = rng.choice(TRACKED["TimeZone"])
    options = {
        "prepare_threshold": rng.choice([1, 2, 5]),
        "prepared_max": rng.choice([2, 4, 100]),
        "statement_cache_size": rng.choice([0, 2, 100]),
    }
    listening = set()
    ops = []

    def value(name):
        values = TRACKED.get(name) or UNTRACKED[name]
        if isinstance(values, dict):
            values = values[driver]
        return rng.choice(values)

    weights = {
        "set": 10, "set_local": 5, "set_in_tx": 5, "reset": 4, "set_default": 3, "reset_all": 2,
        "show_all": 6, "proto": 8, "named_proto": 3, "sql_prepare": 3, "sql_execute": 2,
        "sql_deallocate": 2, "discard_all": 2, "discard_in_tx": 1, "temp_create": 3,
        "temp_probe": 2, "lock": 3, "unlock": 2, "xact_lock": 3, "lock_probe": 1,
        "listen": 2, "unlisten": 1, "notify": 3, "cursor": 4, "transaction": 6, "cancel": 1,
        "disconnect": 2,
    }
    kinds = [k for k in weights if not kinds_wanted or k in kinds_wanted]
    for _ in range(steps):
        kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
        k = rng.randrange(3)
        mode = rng.choice(["simple", "extended"])
        if kind == "set":
            name = rng.choice(ALL_SETTINGS)
            op = (kind, name, value(name), mode)
        elif kind in ("set_in_tx", "set_local"):
            name = rng.choice(ALL_SETTINGS)
            op = (kind, name, value(name), mode, rng.choice(["COMMIT", "ROLLBACK"]))
        elif kind in ("reset", "set_default"):
            op = (kind, rng.choice(ALL_SETTINGS), mode)
        elif kind in ("reset_all", "discard_all", "show_all"):
            op = (kind, mode)
        elif kind == "proto":
            op = (kind, k, rng.randrange(100), rng.choice(["prepared", "unnamed", "cached"]))
        elif kind == "named_proto":
            op = (kind, k, rng.randrange(100))
        elif kind == "notify":
            if not listening:
                continue
            op = (kind, rng.choice(sorted(listening)), f"p{len(ops)}")
        elif kind == "listen":
            listening.add(k)
            op = (kind, k)
        elif kind == "cursor":
            op = (kind, k, rng.choice(["", "WITH HOLD"]), rng.choice(["COMMIT", "ROLLBACK", "outside"]))
        elif kind == "transaction":
            op = (kind, rng.choice(["COMMIT", "ROLLBACK", "fail"]), len(ops), mode)
        elif kind == "disconnect":
            # What the transaction holds when the client goes: a row, a transaction lock, a
            # session lock, a temporary table, a setting.
            op = (kind, rng.choice(["row", "xact_lock", "lock", "temp", "set", "idle_temp", "idle_lock"]),
                  k, rng.choice(UNTRACKED["work_mem"]))
        else:
            op = (kind, k)
            if kind == "unlisten":
                listening.discard(k)
        ops.append(op)
    # Untracked settings in the startup packet (asyncpg's server_settings, libpq's
    # options), drawn last so that the rest of a seed's plan stays as it was. At most two
    # clients: brisk pins them for their whole session, and the pool has four servers.
    if client < 2 and rng.random() < 0.5:
        name = rng.choice(["search_path", "statement_timeout"])
        startup[name] = rng.choice({"search_path": ["public", "pg_catalog,public"],
                                    "statement_timeout": ["1min", "90s"]}[name])
    return startup, options, ops


def sqlstate(exc):
    state = getattr(exc, "sqlstate", None)
    return f"ERR {state}" if state else f"ERR {type(exc).__name__}"


class Psycopg:
    """psycopg 3 (async): extended protocol by default, prepare=True for named statements,
    a client cursor for the simple protocol."""

    name = "psycopg"

    def __init__(self):
        import psycopg

        self.psycopg = psycopg

    async def connect(self, url, startup, options):
        kwargs = {}
        if "application_name" in startup:
            kwargs["application_name"] = startup["application_name"]
        switches = [f"-c {k}={v}" for k, v in startup.items() if k != "application_name"]
        if switches:
            kwargs["options"] = " ".join(switches)
        conn = await self.psycopg.AsyncConnection.connect(
            url, autocommit=True, prepare_threshold=options["prepare_threshold"], **kwargs
        )
        conn.prepared_max = options["prepared_max"]
        conn.notes = []
        conn.add_notify_handler(lambda n: conn.notes.append((n.channel.rsplit("_", 1)[1], n.payload)))
        return conn

    def ph(self, i):
        return "%s"

    async def run(self, conn, sql, args=(), mode="extended"):
        if mode == "simple":
            cur = self.psycopg.AsyncClientCursor(conn)
            await cur.execute(sql)
        else:
            cur = conn.cursor()
            await cur.execute(sql, args or None, prepare={"prepared": True, "unnamed": False}.get(mode))
        if cur.description is None:
            return cur.statusmessage
        return [tuple(str(v) for v in row) for row in await cur.fetchall()]

    async def named(self, conn, name, sql, args):
        # psycopg names its statements itself: prepare=True is its named statement.
        return await self.run(conn, sql, args, "prepared")

    async def listen(self, conn, channel):
        return await self.run(conn, f"LISTEN {channel}", mode="simple")

    async def unlisten(self, conn, channel):
        return await self.run(conn, f"UNLISTEN {channel}", mode="simple")

    async def cancel_running(self, conn, running):
        await conn.cancel_safe()
        return await running

    async def close(self, conn, abrupt):
        await conn.close()

    def is_closed(self, conn):
        return conn.closed

    def notes(self, conn):
        return conn.notes


class Asyncpg:
    """asyncpg: named statements from its statement cache (unnamed when the cache is off),
    conn.prepare for explicitly named ones, execute() for the simple protocol."""

    name = "asyncpg"

    def __init__(self):
        import asyncpg

        self.asyncpg = asyncpg

    async def connect(self, url, startup, options):
        return AsyncpgHandle(await self.asyncpg.connect(
            url, statement_cache_size=options["statement_cache_size"], server_settings=startup
        ))

    def ph(self, i):
        return f"${i}"

    async def run(self, handle, sql, args=(), mode="extended"):
        conn = handle.conn
        if mode == "simple" and not args:
            return await conn.execute(sql)
        if mode == "prepared":
            stmt = await conn.prepare(sql)
            rows = await stmt.fetch(*args)
        elif mode == "unnamed":
            rows = await conn.fetch(sql, *args)
        else:
            rows = await conn.fetch(sql, *args)
        return [tuple(str(v) for v in row) for row in rows]

    async def named(self, handle, name, sql, args):
        if name not in handle.named:
            handle.named[name] = await handle.conn.prepare(sql, name=name)
        return [tuple(str(v) for v in row) for row in await handle.named[name].fetch(*args)]

    async def listen(self, handle, channel):
        def callback(_conn, _pid, channel, payload):
            handle.notes.append((channel.rsplit("_", 1)[1], payload))

        if channel in handle.listeners:
            return "already listening"
        handle.listeners[channel] = callback
        await handle.conn.add_listener(channel, callback)
        return "LISTEN"

    async def unlisten(self, handle, channel):
        # asyncpg sends UNLISTEN when the channel's last callback goes.
        callback = handle.listeners.pop(channel, None)
        if callback is None:
            return await handle.conn.execute(f"UNLISTEN {channel}")
        await handle.conn.remove_listener(channel, callback)
        return "UNLISTEN"

    async def cancel_running(self, handle, running):
        # asyncpg cancels the statement of a cancelled task with a CancelRequest, and the
        # connection stays usable.
        running.cancel()
        try:
            await running
        except asyncio.CancelledError:
            return "ERR cancelled"
        return "not cancelled"

    def is_closed(self, handle):
        return handle.conn.is_closed()

    async def close(self, handle, abrupt):
        if abrupt:
            handle.conn.terminate()
        else:
            await handle.conn.close()

    def notes(self, handle):
        return handle.notes


class AsyncpgHandle:
    """An asyncpg connection and what the harness keeps beside it (asyncpg's connections
    take no attributes): notifications received, named statements, listeners."""

    def __init__(self, conn):
        self.conn = conn
        self.notes = []
        self.named = {}
        self.listeners = {}



class Client:
    """One client's sequence on one path (direct or proxied), with its observer."""

    def __init__(self, driver, url, observer_url, ns, key_base, client, startup, options, direct, jitter):
        self.d = driver
        self.url = url
        self.observer_url = observer_url
        self.ns = ns
        self.key_base = key_base
        self.client = client
        self.startup = startup
        self.options = options
        self.direct = direct
        self.jitter = jitter
        self.conn = None
        self.observations = []

    # Names and keys of this client in this run.
    def key(self, k):
        return self.key_base + self.client * 10 + k

    def temp(self, k):
        return f"tt_{self.ns}_c{self.client}_{k}"

    def channel(self, k):
        return f"ch_{self.ns}_c{self.client}_{k}"

    @property
    def table(self):
        return f"iso_{self.ns}_c{self.client}"

    async def q(self, sql, args=(), mode="extended"):
        try:
            return await asyncio.wait_for(self.d.run(self.conn, sql, args, mode), OP_TIMEOUT)
        except Exception as e:  # an error is an observation, compared by SQLSTATE
            return sqlstate(e)

    async def look(self, sql, args=()):
        return await asyncio.wait_for(self.d.run(self.observer, sql, args, "extended"), OP_TIMEOUT)

    async def connect(self):
        self.conn = await self.d.connect(self.url, self.startup, self.options)
        return await self.q(SHOW_ALL)

    async def held(self, k):
        rows = await self.look(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            f" AND classid = 0 AND objsubid = 1 AND objid = {self.key(k)}"
        )
        return f"locked={rows[0][0]}"

    async def traces(self):
        """What other sessions see of this client: its advisory locks and temporary tables."""
        lo = self.key(0)
        rows = await self.look(
            "SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            f" AND classid = 0 AND objsubid = 1 AND objid BETWEEN {lo} AND {lo + 9}),"
            " (SELECT count(*) FROM pg_class WHERE relpersistence = 't'"
            f" AND relname LIKE 'tt\\_{self.ns}\\_c{self.client}\\_%')"
        )
        return rows[0]

    async def committed(self):
        rows = await self.look(f"SELECT count(*), coalesce(sum(v), 0) FROM {self.table}")
        return f"committed={rows[0]}"

    async def run(self, ops):
        self.observer = await self.d.connect(self.observer_url, {}, {
            "prepare_threshold": 5, "prepared_max": 100, "statement_cache_size": 100})
        try:
            self.observations.append(("connect", await self.connect()))
            for op in ops:
                if self.jitter:
                    await asyncio.sleep(self.jitter.random() * 0.01)
                if self.conn is None or self.d.is_closed(self.conn):
                    # A connection lost to an error: the client reconnects, on both paths.
                    self.observations.append(("reconnect", await self.connect()))
                try:
                    seen = await asyncio.wait_for(self.step(op), OP_TIMEOUT * 3)
                except Exception as e:
                    seen = f"step failed: {sqlstate(e)}"
                self.observations.append((op, seen))
        finally:
            for conn in (self.conn, self.observer):
                if conn is not None:
                    try:
                        await asyncio.wait_for(self.d.close(conn, False), 5)
                    except Exception:
                        pass

    async def step(self, op):
        kind = op[0]
        q = self.q
        if kind == "set":
            _, name, value, mode = op
            return [await q(f"SET {name} = '{value}'", mode=mode), await q(f"SHOW {name}")]
        if kind == "set_local":
            _, name, value, mode, end = op
            return [await q("BEGIN", mode="simple"), await q(f"SET LOCAL {name} = '{value}'", mode=mode),
                    await q(f"SHOW {name}"), await q(end, mode="simple"), await q(f"SHOW {name}")]
        if kind == "set_in_tx":
            _, name, value, mode, end = op
            return [await q("BEGIN", mode="simple"), await q(f"SET {name} = '{value}'", mode=mode),
                    await q(f"SHOW {name}"), await q(end, mode="simple"), await q(f"SHOW {name}")]
        if kind == "reset":
            _, name, mode = op
            return [await q(f"RESET {name}", mode=mode), await q(f"SHOW {name}")]
        if kind == "set_default":
            _, name, mode = op
            return [await q(f"SET {name} TO DEFAULT", mode=mode), await q(f"SHOW {name}")]
        if kind == "reset_all":
            return [await q("RESET ALL", mode=op[1]), await q(SHOW_ALL)]
        if kind == "show_all":
            return await q(SHOW_ALL, mode="prepared" if op[1] == "simple" else "extended")
        if kind == "proto":
            _, k, x, how = op
            return await q(f"SELECT {self.d.ph(1)}::int + {k}, 'proto{k}'", (x,), how)
        if kind == "named_proto":
            _, k, x = op
            try:
                return await self.d.named(self.conn, f"st_{self.client}_{k}",
                                          f"SELECT {self.d.ph(1)}::int * {k + 2}", (x,))
            except Exception as e:
                return sqlstate(e)
        if kind == "sql_prepare":
            k = op[1]
            return [await q(f"PREPARE ps_{k}(int) AS SELECT $1 * 10 + {k}", mode="simple"),
                    await q(f"EXECUTE ps_{k}(4)")]
        if kind == "sql_execute":
            return await q(f"EXECUTE ps_{op[1]}(5)")
        if kind == "sql_deallocate":
            return await q(f"DEALLOCATE ps_{op[1]}", mode="simple")
        if kind == "discard_all":
            return [await q("DISCARD ALL", mode=op[1]), await q(SHOW_ALL), await self.traces()]
        if kind == "discard_in_tx":
            return [await q("BEGIN", mode="simple"), await q("DISCARD ALL"), await q("ROLLBACK", mode="simple")]
        if kind == "temp_create":
            k = op[1]
            return [await q(f"CREATE TEMP TABLE {self.temp(k)} (x int)", mode="simple"),
                    await q(f"INSERT INTO {self.temp(k)} VALUES ({k})"), await self.traces()]
        if kind == "temp_probe":
            return [await q(f"SELECT count(*) FROM {self.temp(op[1])}"), await self.traces()]
        if kind == "lock":
            k = op[1]
            return [await q(f"SELECT pg_advisory_lock({self.key(k)})"), await self.held(k)]
        if kind == "unlock":
            k = op[1]
            return [await q(f"SELECT pg_advisory_unlock({self.key(k)})"), await self.held(k)]
        if kind == "xact_lock":
            k = op[1]
            return [await q("BEGIN", mode="simple"), await q(f"SELECT pg_advisory_xact_lock({self.key(k)})"),
                    await self.held(k), await q("COMMIT", mode="simple"), await self.held(k)]
        if kind == "lock_probe":
            return await self.held(op[1])
        if kind == "listen":
            try:
                return await self.d.listen(self.conn, self.channel(op[1]))
            except Exception as e:
                return sqlstate(e)
        if kind == "unlisten":
            try:
                return await self.d.unlisten(self.conn, self.channel(op[1]))
            except Exception as e:
                return sqlstate(e)
        if kind == "notify":
            _, k, payload = op
            await self.look(f"NOTIFY {self.channel(k)}, '{payload}'")
            notes = self.d.notes(self.conn)
            deadline = time.monotonic() + NOTIFY_WAIT
            while (str(k), payload) not in notes and time.monotonic() < deadline:
                await q("SELECT 1")
                await asyncio.sleep(0.02)
            got = sorted(notes)
            notes.clear()
            return f"notified={got}"
        if kind == "cursor":
            _, k, hold, end = op
            out = []
            declare = f"DECLARE cur_{k} CURSOR {hold} FOR SELECT generate_series(1, 10)"
            if end == "outside":
                out.append(await q(declare, mode="simple"))
            else:
                out += [await q("BEGIN", mode="simple"), await q(declare, mode="simple"),
                        await q(f"FETCH 3 FROM cur_{k}"), await q(end, mode="simple")]
            out += [await q(f"FETCH 2 FROM cur_{k}"), await q(f"CLOSE cur_{k}", mode="simple")]
            return out
        if kind == "transaction":
            _, end, n, mode = op
            out = [await q("BEGIN", mode="simple"), await q(f"INSERT INTO {self.table} VALUES ({n})", mode=mode)]
            if end == "fail":
                out += [await q("SELECT 1/0"), await q("SELECT 1"), await q("COMMIT", mode="simple")]
            else:
                out.append(await q(end, mode="simple"))
            out.append(await self.committed())
            return out
        if kind == "cancel":
            return await self.cancel(op[1])
        if kind == "disconnect":
            return await self.disconnect(*op[1:])
        raise ValueError(kind)

    async def cancel(self, k):
        token = f"cancel_{self.ns}_c{self.client}_{k}"
        running = asyncio.ensure_future(self.d.run(self.conn, f"SELECT pg_sleep(5) /* {token} */", (), "extended"))
        # Cancel once the statement runs: a cancel before it reaches a server has nothing to
        # cancel (see the exclusions above).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not running.done():
            rows = await self.look(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                f" AND query LIKE '%{token} */' AND pid <> pg_backend_pid()"
            )
            if rows[0][0] != "0":
                break
            await asyncio.sleep(0.01)
        try:
            seen = await asyncio.wait_for(self.d.cancel_running(self.conn, running), OP_TIMEOUT)
        except Exception as e:
            seen = sqlstate(e)
        return [seen, await self.q("SELECT 'after cancel'")]

    async def disconnect(self, holds, k, work_mem):
        q = self.q
        out = []
        idle = holds.startswith("idle_")
        if not idle:
            out.append(await q("BEGIN", mode="simple"))
        if holds == "row":
            out.append(await q(f"INSERT INTO {self.table} VALUES (1000)"))
        elif holds == "xact_lock":
            out.append(await q(f"SELECT pg_advisory_xact_lock({self.key(k)})"))
        elif holds in ("lock", "idle_lock"):
            out.append(await q(f"SELECT pg_advisory_lock({self.key(k)})"))
        elif holds in ("temp", "idle_temp"):
            out.append(await q(f"CREATE TEMP TABLE {self.temp(k)} (x int)", mode="simple"))
        elif holds == "set":
            out.append(await q(f"SET work_mem = '{work_mem}'"))
        pid = None
        if self.direct:
            pid = await self.q("SELECT pg_backend_pid()")
            pid = pid[0][0] if isinstance(pid, list) else None
        try:
            await asyncio.wait_for(self.d.close(self.conn, abrupt=True), 5)
        except Exception:
            pass
        self.conn = None
        # What the departed session leaves: nothing, once PostgreSQL has ended it (directly)
        # or the proxy has cleaned its server up. Both are waited for, within bounds.
        deadline = time.monotonic() + 5
        while pid is not None and time.monotonic() < deadline:
            rows = await self.look(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}")
            if rows[0][0] == "0":
                break
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 2
        while (traces := await self.traces()) != ("0", "0") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        out += [traces, await self.committed(), await self.connect()]
        return out


async def run_path(driver, url, observer_url, seed, plans, direct):
    ns = f"n{secrets.randbelow(10**6)}"
    key_base = secrets.randbelow(10**6) * 1000
    setup = await driver.connect(observer_url, {}, {"prepare_threshold": 5, "prepared_max": 100,
                                                    "statement_cache_size": 100})
    clients = []
    for client, (startup, options, _) in enumerate(plans):
        # The proxied path sleeps a little between steps, so that clients interleave on the
        # proxy's servers in an order the seed does not fix.
        jitter = None if direct else random.Random()
        c = Client(driver, url, observer_url, ns, key_base, client, startup, options, direct, jitter)
        await driver.run(setup, f"CREATE TABLE {c.table} (v int)")
        clients.append(c)
    await driver.close(setup, False)
    runs = [asyncio.ensure_future(c.run(ops)) for c, (_, _, ops) in zip(clients, plans)]
    done, pending = await asyncio.wait(runs, timeout=PATH_TIMEOUT)
    for run in pending:
        run.cancel()
    for c, run in zip(clients, runs):
        if run in pending:
            c.observations.append(("end", f"unfinished after {PATH_TIMEOUT:.0f} s"))
        elif run.exception() is not None:
            c.observations.append(("end", f"failed: {run.exception()!r}"))
    # A new connection: the server may have restarted under the old one (a crash).
    try:
        cleanup = await driver.connect(observer_url, {}, {"prepare_threshold": 5, "prepared_max": 100,
                                                          "statement_cache_size": 100})
        for c in clients:
            await driver.run(cleanup, f"DROP TABLE {c.table}")
        await driver.close(cleanup, False)
    except Exception as e:
        print(f"cannot drop the clients' tables: {sqlstate(e)} {e}")
    return [c.observations for c in clients]


def describe(op):
    return " ".join(str(part) for part in op) if isinstance(op, tuple) else str(op)


async def check_seed(driver, args, seed):
    kinds = set(args.kinds.split(",")) if args.kinds else None
    plans = [plan(seed, client, args.steps, driver.name, kinds) for client in range(args.clients)]
    direct = await run_path(driver, args.direct, args.direct, seed, plans, direct=True)
    proxied = await run_path(driver, args.proxy, args.direct, seed, plans, direct=False)
    differences = 0
    operations = 0
    for client, (want, got) in enumerate(zip(direct, proxied)):
        operations += sum(1 for op, _ in got if isinstance(op, tuple))
        # A path cut short ends with an "end" observation the other lacks: None stands in.
        length = max(len(want), len(got))
        want = want + [(None, None)] * (length - len(want))
        got = got + [(None, None)] * (length - len(got))
        for i, ((op, seen_direct), (op_proxied, seen_proxied)) in enumerate(zip(want, got)):
            op = op or op_proxied
            if seen_direct != seen_proxied:
                differences += 1
                startup, options, _ = plans[client]
                print(f"DIFFERENCE driver={driver.name} seed={seed} client={client} step={i}"
                      f" startup={startup} options={options}")
                print(f"  operation: {describe(op)}")
                print(f"  direct:    {seen_direct}")
                print(f"  proxied:   {seen_proxied}")
                print("  steps:     " + " ; ".join(describe(o) for o, _ in want[: i + 1]))
                break
    return differences, operations


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--driver", choices=["psycopg", "asyncpg"], required=True)
    parser.add_argument("--direct", required=True, help="URL of PostgreSQL itself")
    parser.add_argument("--proxy", required=True, help="URL of the same database through the proxy")
    parser.add_argument("--seed", type=int, action="append", default=[])
    parser.add_argument("--minutes", type=float, default=0, help="random seeds for this long")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--kinds", help="only these kinds of operation (comma-separated), to narrow a difference down")
    args = parser.parse_args()
    driver = Psycopg() if args.driver == "psycopg" else Asyncpg()
    seeds = list(args.seed)
    end = time.monotonic() + args.minutes * 60
    differences = sequences = operations = 0
    while seeds or time.monotonic() < end:
        seed = seeds.pop(0) if seeds else secrets.randbelow(2**31)
        print(f"seed {seed} ({driver.name}, {args.clients} clients, {args.steps} steps)", flush=True)
        found, ops = await check_seed(driver, args, seed)
        differences += found
        sequences += args.clients
        operations += ops
        sys.stdout.flush()
    if differences:
        print(f"FAILED {differences} of {sequences} sequences differ ({operations} operations)")
        sys.exit(1)
    print(f"OK {sequences} {operations}")


asyncio.run(main())
