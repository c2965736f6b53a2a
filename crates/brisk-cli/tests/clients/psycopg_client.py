"""psycopg 3 through brisk proxy: server-side prepared statements (psycopg prepares a query
after it ran prepare_threshold times), transactions, an error mid-transaction, executemany
and COPY. Prints OK and exits 0 when every check holds."""
import sys

import psycopg

url = sys.argv[1]
with psycopg.connect(url, autocommit=True, prepare_threshold=1) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS py_items (id int PRIMARY KEY, name text)")
    conn.execute("TRUNCATE py_items")
    # Prepared after the first run: every later run is Bind/Execute of "_pg3_n".
    for i in range(50):
        conn.execute("INSERT INTO py_items VALUES (%s, %s)", (i, f"name {i}"))
    assert conn.execute("SELECT count(*) FROM py_items").fetchone()[0] == 50
    for i in range(50):
        row = conn.execute("SELECT name FROM py_items WHERE id = %s", (i,)).fetchone()
        assert row[0] == f"name {i}", row
    # A transaction with an error rolls back and the connection stays usable.
    try:
        with conn.transaction():
            conn.execute("INSERT INTO py_items VALUES (100, 'x')")
            conn.execute("SELECT 1/0")
    except psycopg.errors.DivisionByZero:
        pass
    assert conn.execute("SELECT count(*) FROM py_items WHERE id = 100").fetchone()[0] == 0
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO py_items VALUES (%s, %s)", [(i, "many") for i in range(200, 260)])
    with conn.cursor().copy("COPY py_items (id, name) FROM STDIN") as copy:
        for i in range(300, 400):
            copy.write_row((i, "copied"))
    assert conn.execute("SELECT count(*) FROM py_items").fetchone()[0] == 210
    out = []
    with conn.cursor().copy("COPY (SELECT id FROM py_items WHERE id < 3 ORDER BY id) TO STDOUT") as copy:
        for row in copy.rows():
            out.append(row[0])
    assert out == ["0", "1", "2"], out
print("OK")
