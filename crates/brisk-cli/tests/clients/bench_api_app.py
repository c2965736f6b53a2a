"""An HTTP API backed by PostgreSQL, for brisk bench's end-to-end test.

GET /books/n+1 lists 20 books, then looks each book's author up in a query of its own (an
N+1); GET /books/joined answers the same in one JOIN. One psycopg 3 connection per server
thread (keep-alive connections keep their thread). Prints its port, then serves until
killed."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

URL = sys.argv[1]
LOCAL = threading.local()


def conn():
    c = getattr(LOCAL, "conn", None)
    if c is None:
        c = psycopg.connect(URL, autocommit=True, application_name="bench-api")
        LOCAL.conn = c
    return c


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        c = conn()
        if self.path == "/books/n+1":
            books = c.execute("SELECT id, author_id FROM books ORDER BY id LIMIT 20").fetchall()
            out = [
                {"id": book, "author": c.execute(
                    "SELECT name FROM authors WHERE id = %s", (author,)).fetchone()[0]}
                for book, author in books
            ]
        elif self.path == "/books/joined":
            out = [
                {"id": book, "author": name}
                for book, name in c.execute(
                    "SELECT b.id, a.name FROM books b JOIN authors a ON a.id = b.author_id "
                    "ORDER BY b.id LIMIT 20").fetchall()
            ]
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
