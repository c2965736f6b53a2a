"""A small psycopg 3 app with the classic N+1: a list of books, then one author lookup per
book. `orm` runs a review lookup per book written as SQLAlchemy writes it. `n+1` runs it that way (and writes an audit row per book, row by row); `batched`
fetches the authors in one query. Each lookup sleeps 5 ms in the server, so 20 lookups
cross the default 50 ms N+1 threshold as a slow network or a cold cache would.

Prints a JSON object with the client-side timings of the lookups (milliseconds), then OK."""
import json
import sys
import time

import psycopg

url, mode = sys.argv[1], sys.argv[2]
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
timings = []
with psycopg.connect(url, autocommit=True, application_name="shop-api") as conn:
    books = conn.execute("SELECT id, author_id FROM books ORDER BY id LIMIT 20").fetchall()
    assert len(books) == 20, books
    if mode == "n+1":
        for book_id, author_id in books:
            started = time.perf_counter()
            row = conn.execute(
                "SELECT name, pg_sleep(0.005) FROM authors WHERE id = %s"
                f" /*application='shop-api',traceparent='{TRACE}'*/",
                (author_id,),
            ).fetchone()
            timings.append((time.perf_counter() - started) * 1000)
            assert row[0] == f"author {author_id}", row
        for book_id, _ in books[:10]:
            conn.execute("INSERT INTO audit (book_id) VALUES (%s)", (book_id,))
    elif mode == "batched":
        ids = [author_id for _, author_id in books]
        rows = conn.execute(
            "SELECT id, name, pg_sleep(0.005) FROM authors WHERE id = ANY(%s)", (ids,)
        ).fetchall()
        assert len(rows) == len(set(ids)), rows
        conn.execute(
            "INSERT INTO audit (book_id) SELECT unnest(%s::int[])", ([b for b, _ in books[:10]],)
        )
        # The same row twenty times is a caching question, not an N+1: it stays silent too.
        for _ in range(20):
            conn.execute("SELECT name, pg_sleep(0.005) FROM authors WHERE id = %s", (1,))
    elif mode == "orm":
        # As SQLAlchemy's lazy loading writes it: every column labelled table_column, the
        # key compared as `param = table.column`. reviews.book_id has no index.
        for book_id, _ in books:
            started = time.perf_counter()
            conn.execute(
                "SELECT reviews.id AS reviews_id, reviews.stars AS reviews_stars, "
                "pg_sleep(0.003) AS pause FROM reviews WHERE %s = reviews.book_id",
                (book_id,),
            ).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    else:
        sys.exit(f"unknown mode {mode}")
print(json.dumps({"lookup_ms": timings}))
print("OK")
