"""Tenure as separate processes (`tenure serve`, `tenure worker`), each in its own process group so
that `kill -9` takes all of it and a finished test leaves nothing behind. Built on the benchmark
harness's `Service` (bench/procs.py), which does the same for the benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from bench.procs import Service, dying_with_parent, free_port, stop_group


def server(env: dict[str, str], log_dir: Path, *, workers: int = 1) -> Service:
    """`tenure serve --no-worker` (the worker runs apart, so each can be killed on its own)."""
    port = free_port()
    return Service(
        name="tenure serve",
        argv=[
            sys.executable,
            "-m",
            "tenure",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-worker",
        ],
        env={**env, "TENURE_BASE_URL": f"http://127.0.0.1:{port}"},
        port=port,
        log_path=log_dir / "serve.log",
        health_path="/healthz",
    )


def kill_9(service: Service) -> None:
    """SIGKILL the whole server (the supervisor and its worker processes) at once."""
    if service.sampler is not None:
        service.sampler.stop()
        service.sampler = None
    if service.process is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait(timeout=30)
        service.process = None


class Worker:
    """`tenure worker` in its own process group."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                dying_with_parent([sys.executable, "-m", "tenure", "worker"]),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_9(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
