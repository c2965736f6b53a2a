"""The result cache over the extended protocol, differentially: one random sequence of
cached reads and writes (seeded), run through brisk with the cache and directly against a
twin database. psycopg 3 (unnamed statements, then named ones past prepare_threshold; text
and binary results) and asyncpg (named statements, binary results). Every read through
brisk must equal the same read made directly at the same point of the sequence: a stale
or mangled cached answer differs. Prints the counts; exits 1 on the first difference."""
import asyncio
import random
import sys

import asyncpg
import psycopg

brisk_url, direct_url, seed, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
ROWS = 12
TAG = " /* brisk:cache ttl=600 */"
# (psycopg text, asyncpg text, parameter count)
READS = [
    ("SELECT id, n, name FROM items WHERE id = %s", "SELECT id, n, name FROM items WHERE id = $1", 1),
    ("SELECT count(*), sum(n) FROM items WHERE n > %s", "SELECT count(*), sum(n) FROM items WHERE n > $1", 1),
    (
        "SELECT id, name, price, at, data FROM items WHERE id BETWEEN %s AND %s ORDER BY id",
        "SELECT id, name, price, at, data FROM items WHERE id BETWEEN $1 AND $2 ORDER BY id",
        2,
    ),
    ("SELECT id, n FROM items ORDER BY n DESC, id LIMIT 3", "SELECT id, n FROM items ORDER BY n DESC, id LIMIT 3", 0),
]


def write():
    """One random write, as SQL with literal values (the same on both sides)."""
    i = rng.randrange(ROWS)
    k = rng.randrange(1, 50)
    return rng.choice(
        [
            f"UPDATE items SET n = n + {k} WHERE id = {i}",
            f"UPDATE items SET name = 'name {k}', price = price + {k}.25 WHERE id = {i}",
            f"DELETE FROM items WHERE id = {i}",
            f"INSERT INTO items VALUES ({i}, {k}, 'new {k}', {k}.5, '2026-01-{k % 28 + 1:02} 10:00+00', '\\x{k:02x}') "
            f"ON CONFLICT (id) DO UPDATE SET n = excluded.n, data = excluded.data",
        ]
    )


def params(count):
    low = rng.randrange(ROWS)
    return [low, low + rng.randrange(4)][:count] if count == 2 else [rng.randrange(60)][:count]


reads = writes = 0


def fail(what, through, directly):
    print(f"seed {seed}: {what}\n  through brisk: {through!r}\n  directly:      {directly!r}")
    sys.exit(1)


def psycopg_phase():
    global reads, writes
    brisk = [psycopg.connect(brisk_url, autocommit=True, prepare_threshold=t) for t in (None, 2, 0)]
    direct = psycopg.connect(direct_url, autocommit=True)
    for _ in range(steps):
        if rng.random() < 0.2:
            sql = write()
            # Through any of the brisk connections: another one's statements must see it.
            rng.choice(brisk).execute(sql)
            direct.execute(sql)
            writes += 1
            continue
        text, _, count = rng.choice(READS)
        args = params(count)
        conn = rng.choice(brisk)
        binary = rng.random() < 0.5
        got = conn.cursor(binary=binary).execute(text + TAG, args).fetchall()
        want = direct.cursor(binary=binary).execute(text, args).fetchall()
        reads += 1
        if got != want:
            fail(f"psycopg {text} {args} binary={binary}", got, want)
    for conn in brisk + [direct]:
        conn.close()


async def asyncpg_phase():
    global reads, writes
    brisk = [await asyncpg.connect(brisk_url, statement_cache_size=n) for n in (100, 0)]
    direct = await asyncpg.connect(direct_url)
    for _ in range(steps):
        if rng.random() < 0.2:
            sql = write()
            await rng.choice(brisk).execute(sql)
            await direct.execute(sql)
            writes += 1
            continue
        _, text, count = rng.choice(READS)
        args = params(count)
        got = [tuple(r) for r in await rng.choice(brisk).fetch(text + TAG, *args)]
        want = [tuple(r) for r in await direct.fetch(text, *args)]
        reads += 1
        if got != want:
            fail(f"asyncpg {text} {args}", got, want)
    for conn in brisk + [direct]:
        await conn.close()


psycopg_phase()
asyncio.run(asyncpg_phase())
print(f"seed {seed}: {reads} reads, {writes} writes, 0 differences")
