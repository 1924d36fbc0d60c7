"""The load generator, run as its own process: `python -m bench.load SPEC.json` prints one JSON result.

Keep-alive HTTP/1.1 connections on uvloop with httptools' C parser and pre-encoded requests, so the
client costs little per request; `ceiling()` in the harness measures what it can do against a
server that does nothing, which bounds every throughput figure on this machine.

SPEC: {"port", "requests": [{"method", "path", "headers", "body"}…] (cycled, shared by all
connections), "concurrency", "duration", "warmup", "timeout"}.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import httptools

LOOPBACK = "127.0.0.1"
GRACE_S = 2.0


def encode_request(request: dict[str, Any]) -> bytes:
    body = (request.get("body") or "").encode("utf-8")
    headers = {"Host": LOOPBACK, "User-Agent": "tenure-bench", **(request.get("headers") or {})}
    if body or request.get("method", "GET") in ("POST", "PUT", "PATCH"):
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        headers["Content-Length"] = str(len(body))
    head = f"{request.get('method', 'GET')} {request['path']} HTTP/1.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `send()` writes a request and resolves with the status code."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        # uvloop's transports are not asyncio.Transport subclasses, hence Any.
        self.transport: Any = None
        self.waiter: asyncio.Future[int] | None = None
        self.keep_alive = True
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("connection closed by the server"))
        if not self.closed.done():
            self.closed.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def send(self, raw: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _connect(port: int) -> _Connection:
    loop = asyncio.get_running_loop()
    _transport, protocol = await loop.create_connection(_Connection, LOOPBACK, port)
    return protocol


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    port = int(spec["port"])
    raws = [encode_request(request) for request in spec["requests"]]
    if not raws:
        raise ValueError("no requests to send")
    cycle = itertools.cycle(raws)
    concurrency = int(spec.get("concurrency", 1))
    warmup = float(spec.get("warmup", 1.0))
    duration = float(spec.get("duration", 5.0))
    timeout = float(spec.get("timeout", 30.0))
    max_requests = int(spec.get("max_requests", 0)) or None

    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + duration
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    sent = 0

    async def worker() -> None:
        nonlocal sent
        connection: _Connection | None = None
        try:
            while True:
                now = time.perf_counter()
                if now >= stop_at or (max_requests is not None and sent >= max_requests):
                    return
                sent += 1
                raw = next(cycle)
                try:
                    if connection is None:
                        connection = await asyncio.wait_for(_connect(port), timeout)
                    began = time.perf_counter()
                    status = await asyncio.wait_for(connection.send(raw), timeout)
                    ended = time.perf_counter()
                    if not connection.keep_alive:
                        connection.close()
                        connection = None
                except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                    if measure_from <= time.perf_counter() <= stop_at:
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    if connection is not None:
                        connection.close()
                    connection = None
                    await asyncio.sleep(0.01)
                    continue
                # Responses completed inside the window count, as wrk counts them: under a
                # latency longer than the window, requests started before it still finish in it.
                if measure_from <= ended <= stop_at:
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
                    if 200 <= status < 400:
                        latencies.append(ended - began)
        finally:
            if connection is not None:
                connection.close()

    # Responses still outstanding a moment after the window would not be counted anyway: a server
    # that stalls (a request waiting 30 s for a connection) must not hold the run up.
    tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    _done, pending = await asyncio.wait(tasks, timeout=max(0.0, stop_at - time.perf_counter()) + GRACE_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    window = min(time.perf_counter(), stop_at) - measure_from
    latencies.sort()
    ok = len(latencies)
    failed = sum(count for status, count in statuses.items() if not 200 <= int(status) < 400) + len(errors)
    return {
        "concurrency": concurrency,
        "duration_s": round(window, 3),
        "requests": ok,
        "errors": failed,
        "statuses": statuses,
        "first_errors": errors[:3],
        "rps": round(ok / window, 1) if window > 0 else 0.0,
        "p50_ms": _percentile_ms(latencies, 0.50),
        "p90_ms": _percentile_ms(latencies, 0.90),
        "p99_ms": _percentile_ms(latencies, 0.99),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
    }


def _percentile_ms(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return round(ordered[index] * 1000, 2)


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
