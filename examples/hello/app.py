"""The example app hostctl's quickstart deploys: a page and a visit counter in SQLite on /data."""

import os
import sqlite3
import threading

from flask import Flask

app = Flask(__name__)
DATABASE = os.path.join(os.environ.get("DATA_DIR", "/data"), "hello.db")
_connection = None
_lock = threading.Lock()  # one connection, shared by the worker's threads in turn


def database() -> sqlite3.Connection:
    """One connection per worker for its whole life, as SQLite advises in WAL mode: two
    releases share the file during a deploy (docs/apps.md, Data). Call with _lock held."""
    global _connection
    if _connection is None:
        connection = sqlite3.connect(DATABASE, timeout=10, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE IF NOT EXISTS visits (at TEXT DEFAULT CURRENT_TIMESTAMP)")
        _connection = connection  # only once it is ready
    return _connection


def visits() -> int:
    with _lock:
        db = database()
        with db:
            db.execute("INSERT INTO visits DEFAULT VALUES")
        return db.execute("SELECT COUNT(*) FROM visits").fetchone()[0]


@app.get("/")
def index() -> str:
    return f"Hello from hostctl! Visit number {visits()}.\n"
