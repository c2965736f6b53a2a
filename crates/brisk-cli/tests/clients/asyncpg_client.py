"""asyncpg through brisk proxy: asyncpg prepares every query as a named statement and caches
it, the pattern that breaks under transaction pooling without prepared-statement support.
Several connections share statements while brisk moves them between servers."""
import asyncio
import sys

import asyncpg


async def worker(url, n):
    conn = await asyncpg.connect(url, statement_cache_size=100)
    try:
        for i in range(40):
            value = await conn.fetchval("SELECT $1::int * 2", i)
            assert value == i * 2, value
            row = await conn.fetchrow("SELECT $1::text AS who, $2::int AS i", f"w{n}", i)
            assert row["who"] == f"w{n}" and row["i"] == i, row
            async with conn.transaction():
                await conn.execute("INSERT INTO apg_log (worker, i) VALUES ($1, $2)", n, i)
        # A prepared statement object, reused many times.
        stmt = await conn.prepare("SELECT count(*) FROM apg_log WHERE worker = $1")
        for _ in range(10):
            assert await stmt.fetchval(n) == 40
    finally:
        await conn.close()


async def main(url):
    setup = await asyncpg.connect(url)
    await setup.execute("CREATE TABLE IF NOT EXISTS apg_log (worker int, i int)")
    await setup.execute("TRUNCATE apg_log")
    await setup.close()
    await asyncio.gather(*(worker(url, n) for n in range(6)))
    check = await asyncpg.connect(url)
    assert await check.fetchval("SELECT count(*) FROM apg_log") == 240
    await check.close()
    print("OK")


asyncio.run(main(sys.argv[1]))
