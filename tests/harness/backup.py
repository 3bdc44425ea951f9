"""Helpers for the backup tests: moto's S3 server on loopback (with real credential checks),
a TCP proxy that can cut uploads mid-way, an isolated hostctl for backup tests, and
independent readers of volumes and archives (they do not use hostctl's own code)."""

from __future__ import annotations

import json
import secrets
import socket
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.harness.env import NAMESPACE, free_port, isolated_env, stop_caddy
from tests.harness.hostctl import Hostctl


class MotoS3:
    """moto's standalone server in a subprocess, enforcing IAM credentials like S3 does."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self.start()
        except BaseException:
            self.stop()
            raise

    def start(self) -> None:
        """Wait for the server, make an IAM user with an S3 key, then turn checks on."""
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="hostctl")
        policy = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
        iam.put_user_policy(
            UserName="hostctl",
            PolicyName="s3",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [policy]}),
        )
        key = iam.create_access_key(UserName="hostctl")["AccessKey"]
        self.access_key_id = key["AccessKeyId"]
        self.secret_access_key = key["SecretAccessKey"]
        enforce = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(enforce, timeout=5)  # from now on, every request is checked

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        name = f"hostctl-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        found = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in found.get("Contents", []))

    def unfinished_uploads(self, bucket: str) -> list[str]:
        found = self.client().list_multipart_uploads(Bucket=bucket)
        return [upload["Key"] for upload in found.get("Uploads", [])]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass
class CuttingProxy:
    """Forwards TCP to ``upstream``; while ``cutting``, each connection is closed once it
    has sent ``limit`` bytes upstream: a network failure in the middle of an upload."""

    upstream: int
    limit: int = 256 * 1024
    cutting: bool = False
    cuts: int = 0
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self.accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self.pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, False), daemon=True).start()

    def pipe(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        sent = 0
        with suppress(OSError):
            while data := source.recv(65536):
                sent += len(data)
                if counted and self.cutting and sent > self.limit:
                    self.cuts += 1
                    break
                sink.sendall(data)
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.server.close()


class BackupHostctl(Hostctl):
    """A hostctl with its own root and server config (so tests may write hostctl.yml),
    in the test run's namespace (so the run's cleanup removes what it made)."""

    @classmethod
    @contextmanager
    def isolated(cls, root: Path) -> Iterator[BackupHostctl]:
        try:
            yield cls(isolated_env(root, NAMESPACE))
        finally:
            stop_caddy(root)

    @property
    def etc(self) -> Path:
        return Path(self.env["HOSTCTL_ETC"])

    def configure(self, text: str) -> None:
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "hostctl.yml").write_text(text)

    def set_offsite(self, endpoint: str, bucket: str, key: str, secret: str) -> None:
        self.run(
            "offsite", "set", "--endpoint", endpoint, "--bucket", bucket,
            "--access-key-id", key, "--secret-access-key", secret, "--prefix", "box1",
        )  # fmt: skip

    def backup(self, app: str) -> str:
        """Back up ``app`` and return the id it printed (its last line)."""
        return self.run("backup", app).stdout.splitlines()[-1]

    def listing(self, app: str) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = json.loads(self.run("backups", app, "--json").stdout)
        return listed

    def archive(self, app: str, backup_id: str) -> Path:
        return self.root / "backups" / app / f"{backup_id}.tar.gz"

    def volume(self, app: str) -> str:
        volume: str = json.loads(self.run("apps", "info", app, "--json").stdout)["volume"]
        return volume


def volume_dir(volume: str) -> Path:
    """Where the engine keeps a volume's files, asked of the docker CLI."""
    done = subprocess.run(
        ["docker", "volume", "inspect", "-f", "{{.Mountpoint}}", volume],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip())


def app_volumes(app: str) -> list[str]:
    done = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"label=io.hostctl.app={app}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(done.stdout.split())


def write_rows(path: Path, count: int, start: int = 1) -> None:
    """Rows ``start``..``start+count-1`` in table ``rows`` of a WAL database at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, note TEXT)")
        db.executemany(
            "INSERT INTO rows VALUES (?, ?)",
            [(i, f"row {i}") for i in range(start, start + count)],
        )
    db.close()


def row_ids(path: Path) -> list[int]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM rows ORDER BY id")]
    db.close()
    return ids


def unpack(archive: Path, destination: Path) -> dict[str, Any]:
    """Unpack an archive with tarfile alone; returns its manifest."""
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(destination, filter="fully_trusted")
    manifest: dict[str, Any] = json.loads((destination / "manifest.json").read_text())
    return manifest


def integrity_check(path: Path) -> str:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        result = str(db.execute("PRAGMA integrity_check").fetchone()[0])
    db.close()
    return result
