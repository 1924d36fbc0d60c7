"""What a scenario runs against: a fresh store (SQLite file or PostgreSQL database), Tenure's
own commands to migrate it and mint a key, and `tenure serve` with two server processes."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.procs import BenchError, Service, bench_env, free_port, running
from tenure.testing.pgcluster import PgCluster, PostgresUnavailable

SECRET_KEY = "bench-secret-key-not-for-production"


def tenure_command() -> list[str]:
    script = Path(sys.executable).parent / "tenure"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tenure"]


@dataclass
class Store:
    """One fresh database and the data directory that goes with it."""

    kind: str  # "sqlite" or "postgresql"
    url: str
    data_dir: Path

    def env(self) -> dict[str, str]:
        return bench_env(
            {
                "TENURE_DATA_DIR": str(self.data_dir),
                "TENURE_DATABASE_URL": self.url,
                "TENURE_SECRET_KEY": SECRET_KEY,
                # The load comes from one API key: the per-key limit (100/s by default) would
                # measure the limiter, not the service.
                "TENURE_RATE_LIMIT_API": "0",
                # The webhook receivers are on loopback.
                "TENURE_WEBHOOK_ALLOW_PRIVATE": "true",
            }
        )

    def tenure(self, *args: str, timeout: float = 120) -> str:
        """Run a `tenure` command on this store; returns its stdout."""
        result = subprocess.run(
            [*tenure_command(), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(f"tenure {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def migrate(self) -> None:
        self.tenure("migrate")

    def create_key(self) -> str:
        return self.tenure("keys", "create", "--name", "bench").strip().splitlines()[-1]


@dataclass
class Workspace:
    """The run's temporary directory and its lazily started PostgreSQL cluster; closes both."""

    root: Path
    # Where the servers' and workers' logs are kept when a store is dropped (for post-mortems).
    logs: Path | None = None
    _cluster: PgCluster | None = None
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def cluster(self) -> PgCluster:
        if self._cluster is None:
            try:
                self._cluster = PgCluster.start()
            except PostgresUnavailable as exc:
                raise BenchError(f"PostgreSQL unavailable: {exc}") from None
        return self._cluster

    def new_store(self, kind: str, label: str) -> Store:
        """A fresh, migrated store. PostgreSQL databases share the run's cluster."""
        number = next(self._names)
        data_dir = self.root / f"{number:02d}-{label}-{kind}"
        data_dir.mkdir(parents=True)
        if kind == "sqlite":
            store = Store(kind, f"sqlite:///{data_dir / 'tenure.sqlite3'}", data_dir)
        elif kind == "postgresql":
            url = self.cluster().create_database(f"bench_{number:02d}_{label}")
            store = Store(kind, url, data_dir)
        else:
            raise ValueError(f"unknown database kind {kind!r}")
        store.migrate()
        return store

    def drop(self, store: Store) -> None:
        """Free the disk of a finished scenario (100k-row stores add up)."""
        if store.kind == "postgresql" and self._cluster is not None:
            import psycopg

            name = store.url.rsplit("/", 1)[1]
            with (
                contextlib.suppress(psycopg.Error),
                psycopg.connect(
                    f"host=127.0.0.1 port={self._cluster.port} user=postgres dbname=postgres", autocommit=True
                ) as connection,
            ):
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self.logs is not None:
            for log in store.data_dir.glob("*.log"):
                target = self.logs / store.data_dir.name
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(log, target / log.name)
        shutil.rmtree(store.data_dir, ignore_errors=True)

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None
        shutil.rmtree(self.root, ignore_errors=True)


def tenure_server(store: Store, *, workers: int = 2) -> Service:
    port = free_port()
    return Service(
        name="tenure serve",
        argv=[
            *tenure_command(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-worker",
        ],
        env=store.env(),
        port=port,
        log_path=store.data_dir / "tenure-serve.log",
        health_path="/healthz",
    )


@contextlib.contextmanager
def serving(store: Store, *, workers: int = 2) -> Iterator[Service]:
    with running(tenure_server(store, workers=workers), timeout=90) as service:
        yield service


class Api:
    """A small synchronous client for setting things up through the real API."""

    def __init__(self, base_url: str, secret: str) -> None:
        self.client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=30.0
        )

    def post(self, path: str, data: dict[str, str]) -> dict[str, object]:
        response = self.client.post(path, data=data)
        if response.status_code >= 400:
            raise BenchError(f"POST {path} answered {response.status_code}: {response.text[:500]}")
        body: dict[str, object] = response.json()
        return body

    def get(self, path: str) -> dict[str, object]:
        response = self.client.get(path)
        if response.status_code >= 400:
            raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:500]}")
        body: dict[str, object] = response.json()
        return body

    def status(self, method: str, path: str, data: dict[str, str] | None = None) -> int:
        return self.client.request(method, path, data=data).status_code

    def close(self) -> None:
        self.client.close()


def catalog(api: Api) -> tuple[str, str]:
    """A product and a monthly price; returns (product id, price id)."""
    product = api.post("/v1/products", {"name": "Bench plan"})
    price = api.post(
        "/v1/prices",
        {
            "product": str(product["id"]),
            "unit_amount": "1500",
            "currency": "usd",
            "recurring[interval]": "month",
        },
    )
    return str(product["id"]), str(price["id"])


def paying_customer(api: Api, index: int) -> str:
    customer = api.post(
        "/v1/customers",
        {
            "email": f"payer{index}@example.com",
            "name": f"Payer {index}",
            "payment_method": "pm_card_visa",
            "invoice_settings[default_payment_method]": "pm_card_visa",
        },
    )
    return str(customer["id"])
