"""The peer: localstripe (PyPI), in a virtual environment of its own under the temp directory.

localstripe's own `localstripe` command listens on every interface (`::`); the harness keeps to
loopback, so `peer_localstripe.py` starts the same aiohttp app bound to 127.0.0.1, from scratch
and without its per-request access log (which would only cost it time writing to /dev/null).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench.context import Bench
from bench.procs import BenchError, Service, bench_env, free_port

PEER_PACKAGE = "localstripe"
VENV = Path(tempfile.gettempdir()) / "tenure-bench-peer-venv"
WRAPPER = Path(__file__).resolve().parent / "peer_localstripe.py"


def _python() -> Path:
    return VENV / "bin" / "python"


def install(*, timeout: float = 240) -> Path:
    """Create the peer's venv once (kept across runs); returns its python. Raises BenchError."""
    python = _python()
    marker = VENV / ".installed"
    if marker.exists() and python.exists():
        return python
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=120
            )
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PEER_PACKAGE],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BenchError(f"could not create the localstripe venv: {exc}") from None
    if result.returncode != 0:
        raise BenchError(f"pip install {PEER_PACKAGE} failed: {result.stderr.strip()[-400:]}")
    check = subprocess.run(
        [str(python), "-c", "import localstripe.server"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check.returncode != 0:
        raise BenchError(f"localstripe does not import on this Python: {check.stderr.strip()[-400:]}")
    marker.write_text("ok\n")
    return python


def version() -> str | None:
    result = subprocess.run(
        [str(_python()), "-c", "from importlib.metadata import version; print(version('localstripe'))"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout.strip() or None


def server(log_dir: Path) -> Service:
    port = free_port()
    env = bench_env()
    env.pop("PYTHONPATH", None)  # the peer's venv, not ours
    return Service(
        name="localstripe",
        argv=[str(_python()), str(WRAPPER), str(port)],
        env=env,
        port=port,
        log_path=log_dir / "localstripe.log",
        health_path=None,
        cwd=log_dir,
    )


def measure(bench: Bench) -> None:
    """localstripe's POST /v1/customers at each concurrency, from an empty store each time."""
    import httpx

    from bench.procs import running
    from bench.scenarios.api import customer_requests

    try:
        install()
    except BenchError as exc:
        bench.peer = f"localstripe unavailable: {exc}"
        bench.log(f"peer: {bench.peer}")
        return
    bench.log(f"peer: localstripe {version()}")
    results = {}
    requests = customer_requests("sk_test_bench")
    try:
        with running(server(bench.scratch("peer")), timeout=60) as peer:
            for concurrency in bench.profile.concurrencies:
                httpx.delete(f"{peer.base_url}/_config/data", timeout=30)
                results[concurrency] = bench.load(peer.port, requests, concurrency=concurrency)
                bench.log(
                    f"  localstripe POST /v1/customers c={concurrency}: {results[concurrency]['rps']} req/s, "
                    f"p99 {results[concurrency]['p99_ms']} ms, errors {results[concurrency]['errors']}"
                )
    except BenchError as exc:
        bench.peer = f"localstripe could not run: {exc}"
        bench.log(f"peer: {bench.peer}")
        return
    bench.peer = results
