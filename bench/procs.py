"""Processes the harness starts: each in its own process group, always stopped, memory sampled from /proc."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PYTHON = sys.executable
LOOPBACK = "127.0.0.1"


class BenchError(RuntimeError):
    """A scenario could not run; the message says why."""


# setpriv (util-linux) sets the parent-death signal between fork and exec, in C. A `preexec_fn` would
# run Python in the forked child of a threaded harness, where a lock another thread held at the fork
# (OpenSSL's, freeing an SSL context the client threads made) never comes free: the child hangs.
_SETPRIV = shutil.which("setpriv")


def dying_with_parent(argv: Sequence[str]) -> list[str]:
    """`argv` run so that the kernel sends it SIGTERM if the harness dies, even by SIGKILL, so a
    killed run leaves no server behind. The parent is the thread that starts the child: a child
    started by a thread that ends gets SIGTERM then. Without setpriv, `argv` as it is."""
    if _SETPRIV is None:
        return list(argv)
    return [_SETPRIV, "--pdeathsig", "TERM", "--", *argv]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def bench_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for child processes: ours, with the repository importable and no proxies."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                found.extend(int(child) for child in text.split())
    except OSError:
        pass
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(_children(current))
    return tree


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples the summed RSS of a process tree every `interval` seconds and keeps the peak."""

    def __init__(self, pid: int, *, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_total = 0
        self.peak_single = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        sizes = [rss_bytes(pid) for pid in process_tree(self.pid)]
        if sizes:
            self.peak_total = max(self.peak_total, sum(sizes))
            self.peak_single = max(self.peak_single, max(sizes))

    def reset(self) -> None:
        self.peak_total = self.peak_single = 0

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


@dataclass
class Service:
    """A long-running child (a server): started in its own session, stopped with its whole group."""

    name: str
    argv: Sequence[str]
    env: dict[str, str]
    port: int
    log_path: Path
    health_path: str | None = "/"
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    sampler: RssSampler | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, *, timeout: float = 60.0) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            dying_with_parent(self.argv),
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout)
        self.sampler = RssSampler(self.process.pid).start()
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if self.health_path is None:
                    with socket.create_connection((LOOPBACK, self.port), timeout=0.5):
                        return
                else:
                    httpx.get(self.base_url + self.health_path, timeout=2.0)
                    return
            except (OSError, httpx.HTTPError):
                time.sleep(0.1)
        raise BenchError(
            f"{self.name} did not answer on port {self.port} within {timeout:.0f}s: {self.log_tail()}"
        )

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.process is not None:
            stop_group(self.process)
            self.process = None


def stop_group(process: subprocess.Popen[Any], *, grace: float = 10.0) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left after `grace` seconds."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Children of the group (uvicorn's workers) may outlive their parent: kill the group regardless.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


@contextlib.contextmanager
def running(service: Service, *, timeout: float = 60.0) -> Iterator[Service]:
    try:
        service.start(timeout=timeout)
        yield service
    finally:
        service.stop()


def run_json(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float,
    stdin_text: str | None = None,
    cwd: Path | None = None,
) -> dict[str, Any]:
    """Run a child that prints one JSON object as its last stdout line; its group dies on timeout."""
    process = subprocess.Popen(
        dying_with_parent(argv),
        env=env or bench_env(),
        cwd=cwd,
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
    )
    try:
        out, err = process.communicate(stdin_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(process, grace=2)
        raise BenchError(f"{' '.join(argv[:4])}… did not finish within {timeout:.0f}s") from None
    except BaseException:
        stop_group(process, grace=2)
        raise
    if process.returncode != 0:
        raise BenchError(f"{' '.join(argv[:4])}… exited with {process.returncode}: {err[-2000:]}")
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:
        raise BenchError(f"{' '.join(argv[:4])}… printed nothing: {err[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_together(
    argv: Sequence[str], *, copies: int, env: dict[str, str], timeout: float, log_path: Path
) -> list[dict[str, Any]]:
    """Start `copies` children that print `ready`, release them at once with `go`, and collect the
    JSON line each prints last (their stderr goes to `log_path`). Every child's group is killed on
    timeout or error."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        processes = [
            subprocess.Popen(
                dying_with_parent(argv),
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
            for _ in range(copies)
        ]
    deadline = time.monotonic() + timeout
    try:
        for process in processes:
            assert process.stdout is not None
            line = _readline(process, deadline)
            if line.strip() != "ready":
                tail = log_path.read_text(errors="replace")[-2000:]
                raise BenchError(f"{' '.join(argv[:3])}… did not get ready: {line!r} {tail}")
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        results = []
        for process in processes:
            try:
                out, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise BenchError(f"{' '.join(argv[:3])}… did not finish within {timeout:.0f}s") from None
            if process.returncode != 0:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise BenchError(f"{' '.join(argv[:3])}… exited with {process.returncode}: {tail}")
            results.append(json.loads([line for line in out.splitlines() if line.strip()][-1]))
        return results
    finally:
        for process in processes:
            stop_group(process, grace=2)


def _readline(process: subprocess.Popen[str], deadline: float) -> str:
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=max(0.1, deadline - time.monotonic())):
            raise BenchError("a child did not report ready in time")
    return process.stdout.readline()
