"""A throwaway PostgreSQL cluster from the installed `initdb`/`pg_ctl`, for tests and benchmarks.

As root, PostgreSQL refuses to run, so the cluster is created and run as the `postgres` user.

Several clusters run side by side (one per pytest-xdist worker, a benchmark's next to a test run's):
each has a directory of its own (`mkdtemp`, where its Unix socket lives too) and a free TCP port;
if another process takes that port between the choice and the server's bind, `start` tries another.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def find_pg_bin() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *command]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(command)]


# Starts tried, each on a new free port, when the chosen port was taken meanwhile.
_PORT_ATTEMPTS = 3


@dataclass
class PgCluster:
    bin_dir: Path
    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, label: str = "") -> PgCluster:
        """Create and start a cluster; `label` (e.g. a pytest-xdist worker id) names its directory."""
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) are installed")
        root = Path(tempfile.mkdtemp(prefix=f"tenure-pg-{label}-" if label else "tenure-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        cluster = cls(bin_dir=bin_dir, root=root, port=_free_port())
        cluster._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(cluster.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )
        for attempt in range(_PORT_ATTEMPTS):
            logged = cluster._log_size()
            try:
                cluster._start_server()
                return cluster
            except PostgresUnavailable:
                if attempt + 1 == _PORT_ATTEMPTS or not cluster._port_taken_since(logged):
                    raise
                cluster.port = _free_port()
        raise AssertionError("unreachable")

    def _start_server(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-o",
                options,
                "-l",
                str(self.root / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def _log_size(self) -> int:
        log = self.root / "server.log"
        return log.stat().st_size if log.exists() else 0

    def _port_taken_since(self, offset: int) -> bool:
        """Whether the server log, past `offset`, says another process listens on the chosen port."""
        log = self.root / "server.log"
        if not log.exists():
            return False
        with log.open("rb") as handle:
            handle.seek(offset)
            return b"Address already in use" in handle.read()

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(_as_postgres(command), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"{command[0]} failed: {result.stderr.strip()}\n{tail}")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self) -> None:
        """Cut every session off, stop and start again. The log file keeps the new server from
        holding pg_ctl's output pipes open (which would make this wait forever)."""
        pg_ctl = str(self.bin_dir / "pg_ctl")
        log = str(self.root / "server.log")
        self._run([pg_ctl, "-D", str(self.data_dir), "-l", log, "-w", "-t", "60", "-m", "fast", "restart"])

    def stop(self) -> None:
        with contextlib.suppress(PostgresUnavailable):
            self._run(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"]
            )
        for _ in range(20):
            try:
                shutil.rmtree(self.root)
                break
            except OSError:
                time.sleep(0.1)
