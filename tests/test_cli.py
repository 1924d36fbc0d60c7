"""The `tenure` command as a user runs it, in fresh directories."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    env.update({"TENURE_DATA_DIR": str(tmp_path / "tenure-data"), **extra})
    return env


def _tenure(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tenure", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_serve_in_an_empty_directory_answers_healthz_quickly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "tenure", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        body = None
        while time.monotonic() - started < 5:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).json()
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert body is not None, "no answer from /healthz within 5 s"
        assert body["status"] == "ok"
        assert body["database"] == "sqlite"
        assert (tmp_path / "tenure-data" / "tenure.sqlite3").exists()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_keys_create_prints_a_working_key_alone_on_the_last_line(tmp_path: Path) -> None:
    env = _env(tmp_path)
    result = _tenure("keys", "create", "--name", "ci", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("sk_test_")
    assert len(secret) > 30
    # The key is stored hashed: the plain secret appears nowhere in the store.
    assert secret.encode() not in (tmp_path / "tenure-data" / "tenure.sqlite3").read_bytes()


def test_staff_create_validates_and_stores_a_hash(tmp_path: Path) -> None:
    env = _env(tmp_path)
    short = _tenure(
        "staff", "create", "--email", "ops@example.com", "--password", "short", env=env, cwd=tmp_path
    )
    assert short.returncode == 2
    assert "8 characters" in short.stderr
    ok = _tenure(
        "staff",
        "create",
        "--email",
        "Ops@Example.com",
        "--password",
        "correct horse",
        "--role",
        "analyst",
        env=env,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert "analyst ops@example.com" in ok.stdout
    assert b"correct horse" not in (tmp_path / "tenure-data" / "tenure.sqlite3").read_bytes()


def test_migrate_and_demo(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _tenure("migrate", env=env, cwd=tmp_path).returncode == 0
    demo = _tenure("demo", "--customers", "20", env=env, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "sk_test_" in demo.stdout
    assert "Done in" in demo.stderr  # progress goes to stderr
