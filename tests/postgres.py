"""A throwaway PostgreSQL cluster for the tests and benchmarks.

Debian's PostgreSQL 15 binaries run a private cluster in a temporary folder:
no TCP, only a Unix socket in that folder, so it never meets the machine's own
server or another test run. ``initdb`` and ``pg_ctl`` refuse root; as root
they run as the ``postgres`` account. Every connection uses the ``postgres``
role with trust authentication, which only local processes that can reach the
socket folder can use (Apache's www-data included, for the Apache tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

#: Where Debian installs the server's programs.
BIN = Path(os.environ.get("HOMEPAGE_PG_BIN", "/usr/lib/postgresql/15/bin"))

#: The environment variable that runs the whole suite on PostgreSQL.
SELECT_VARIABLE = "HOMEPAGE_TEST_DATABASE"

#: The port names the socket file only (``.s.PGSQL.5432``); nothing listens on TCP.
PORT = 5432

#: Throwaway data: durability settings off, which only matter after a power
#: cut, and room for the Apache tests' processes × threads × pool.
SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "400",
    "shared_buffers": "64MB",
}


def available() -> bool:
    """Tell whether this machine has the PostgreSQL server programs."""
    return (BIN / "initdb").exists() and (BIN / "pg_ctl").exists()


def selected() -> bool:
    """Tell whether this test run puts every app on PostgreSQL."""
    return os.environ.get(SELECT_VARIABLE, "sqlite") == "postgresql"


class Cluster:
    """A running private PostgreSQL cluster; ``url(name)`` names its databases."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.socket = root / "socket"

    def _run(self, *args: str | Path) -> subprocess.CompletedProcess:
        command = [str(arg) for arg in args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True)

    def start(self) -> None:
        """Create the cluster's files and start its server."""
        self.socket.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.socket, "postgres", "postgres")
        # Readable by all: the Apache tests' www-data must reach the socket.
        self.root.chmod(0o755)
        self.socket.chmod(0o755)
        self._run(
            BIN / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        options = " ".join(f"-c {name}={value}" for name, value in SETTINGS.items())
        options += f" -k {self.socket} -p {PORT}"
        self._run(
            BIN / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.root / "server.log",
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        """Stop the server and delete its files."""
        try:
            self._run(BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """Return the SQLAlchemy URL of one of the cluster's databases."""
        return (
            f"postgresql+psycopg://postgres@/{database}?host={self.socket}&port={PORT}"
        )

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
        with psycopg.connect(
            host=str(self.socket),
            port=PORT,
            user="postgres",
            dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(sql)

    def create_database(self, name: str, template: str = "template1") -> str:
        """Create an empty database (or a copy of ``template``); return its URL."""
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections are still open on it."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Start a private cluster in a temporary folder; stop and delete it after."""
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="homepage-pg-")))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
