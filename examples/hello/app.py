"""The example app hostctl's quickstart deploys: a page and a visit counter in SQLite on /data."""

import os
import sqlite3

from flask import Flask

app = Flask(__name__)
DATABASE = os.path.join(os.environ.get("DATA_DIR", "/data"), "hello.db")


def visits() -> int:
    with sqlite3.connect(DATABASE, timeout=10) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS visits (at TEXT DEFAULT CURRENT_TIMESTAMP)")
        db.execute("INSERT INTO visits DEFAULT VALUES")
        return db.execute("SELECT COUNT(*) FROM visits").fetchone()[0]


@app.get("/")
def index() -> str:
    return f"Hello from hostctl! Visit number {visits()}.\n"
