"""A real HTTP receiver on loopback, and a tiny retry schedule so retries take seconds.

Also a DNS of the test's own and a guard on outgoing connections, for the tests of private addresses:
no name is looked up outside the machine and no connection leaves loopback.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tenure.config import Settings
from tenure.jobs.worker import run_once
from tenure.runtime import Runtime

SCHEDULE = [1, 1, 1]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    # When the answer was decided (after `delay`), and the client's port: one per connection.
    at: float = 0.0
    port: int = 0


class _Server(ThreadingHTTPServer):
    # A pass opens up to `BATCH` connections at once: socketserver's backlog of 5 would reset some.
    request_queue_size = 128


class Receiver:
    """Records every POST; `answer(index, body)` picks the status (200 unless told otherwise).

    HTTP/1.0 (a connection per request) unless `keep_alive`."""

    def __init__(self, *, keep_alive: bool = False) -> None:
        self.requests: list[Received] = []
        self.answer: Callable[[int, bytes], int] = lambda _index, _body: 200
        self.delay = 0.0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.in_flight += 1
                    receiver.peak_in_flight = max(receiver.peak_in_flight, receiver.in_flight)
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.in_flight -= 1
                    status = receiver.answer(len(receiver.requests), body)
                    receiver.requests.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            status,
                            at=time.monotonic(),
                            port=self.client_address[1],
                        )
                    )
                payload = b"ok" if status < 300 else b"receiver says no"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender died (the crash test kills it on purpose)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def fail_first(self, count: int, status: int = 500) -> None:
        self.answer = lambda index, _body: status if index < count else 200

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret",
        webhook_retry_schedule=SCHEDULE,
    )


def drive(runtime: Runtime, until: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Run worker passes (as `tenure worker` does), at least one, until `until()` holds."""
    deadline = time.monotonic() + timeout
    while True:
        worked = run_once(runtime)
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError("the worker did not get there in time")
        if not worked:
            time.sleep(0.1)


def wait_for(condition: Callable[[], bool], *, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


_real_getaddrinfo = socket.getaddrinfo
_real_create_connection = socket.create_connection


@dataclass
class FakeDns:
    """`socket.getaddrinfo` answering names from `names` (a list of addresses, or a function giving
    the next answer), and IP addresses as libc reads them (numeric only: no query leaves the machine).
    Any other name does not resolve. `asked` lists the names looked up."""

    names: dict[str, list[str] | Callable[[], list[str]]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def __call__(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        name = host.decode("ascii") if isinstance(host, bytes) else str(host)
        if name in self.names:
            self.asked.append(name)
            answer = self.names[name]
            addresses = answer() if callable(answer) else answer
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, int(port or 0), 0, 0))
                if ":" in a
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 0)))
                for a in addresses
            ]
        # Numeric only: libc reads `0x7f000001` or `127.1` itself, and never asks a DNS server.
        return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeDns:
        self.names.setdefault("localhost", ["127.0.0.1", "::1"])
        monkeypatch.setattr(socket, "getaddrinfo", self)
        return self


@dataclass
class ConnectionGuard:
    """`socket.create_connection` that connects to loopback only; any other attempt is recorded in
    `outside` and fails before a packet is sent."""

    outside: list[tuple[Any, ...]] = field(default_factory=list)

    def __call__(self, address: tuple[Any, ...], *args: Any, **kwargs: Any) -> socket.socket:
        resolved = socket.getaddrinfo(address[0], address[1], 0, socket.SOCK_STREAM)
        if resolved and all(ipaddress.ip_address(r[4][0].split("%")[0]).is_loopback for r in resolved):
            return _real_create_connection(address, *args, **kwargs)
        self.outside.append(address)
        raise OSError(f"test guard: no connection outside loopback ({address[0]})")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> ConnectionGuard:
        monkeypatch.setattr(socket, "create_connection", self)
        return self
