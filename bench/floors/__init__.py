"""Floors: the same work done the plainest way on the same machine, measured in the same run."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.procs import Service, bench_env, free_port


def floor_server(
    *, database_url: str, templates: Path | None, log_dir: Path, secret_key: str = "", workers: int = 2
) -> Service:
    """The minimal Starlette floor app, served by the same uvicorn, httptools and uvloop as Tenure."""
    port = free_port()
    env = {"FLOOR_DATABASE_URL": database_url, "FLOOR_SECRET_KEY": secret_key}
    if templates is not None:
        env["FLOOR_TEMPLATES"] = str(templates)
    return Service(
        name="floor app",
        argv=[
            sys.executable,
            "-m",
            "uvicorn",
            "bench.floors.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=bench_env(env),
        port=port,
        log_path=log_dir / "floor-app.log",
        health_path="/ping",
    )
