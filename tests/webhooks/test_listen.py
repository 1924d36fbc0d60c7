"""`tenure listen --forward-to URL`, run as a user runs it."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import stripe
from fastapi.testclient import TestClient

from .conftest import Receiver, wait_for

CLOCKS = "/v1/test_helpers/test_clocks"


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    env.update(
        TENURE_DATABASE_URL=database_url,
        TENURE_DATA_DIR=str(tmp_path / "listen-data"),
        TENURE_SECRET_KEY="test-secret",
    )
    return env


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line.rstrip("\n"))


def _stuck(pid: int) -> str:
    """What a process that ignores ^C is doing: its signal masks and, with py-spy, its threads."""
    status = Path(f"/proc/{pid}/status")
    masks = (
        [line for line in status.read_text().splitlines() if line.startswith("Sig")]
        if status.exists()
        else []
    )
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    try:
        dump = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30)
        stacks = dump.stdout + dump.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        stacks = f"(no py-spy dump: {exc})"
    return "\n".join([*masks, stacks])


def _next_line(lines: queue.Queue[str], timeout: float = 90.0) -> str:
    return lines.get(timeout=timeout)


def test_listen_forwards_new_matching_events_signed_until_ctrl_c(
    client: TestClient, receiver: Receiver, database_url: str, tmp_path: Path
) -> None:
    client.post(CLOCKS, data={"frozen_time": "1700000000"})  # before `listen` starts: not forwarded
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tenure",
            "listen",
            "--forward-to",
            receiver.url,
            "--events",
            "test_helpers.test_clock.created,test_helpers.test_clock.ready",
        ],
        env=_env(database_url, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        ready = _next_line(lines)
        assert ready.startswith("Ready! Your webhook signing secret is whsec_"), ready
        secret = ready.split(" is ", 1)[1].split()[0]

        clock = client.post(CLOCKS, data={"frozen_time": "1700000000"}).json()
        client.post(f"{CLOCKS}/{clock['id']}/advance", data={"frozen_time": "1700003600"})
        expected = {
            e["type"]: e["id"]
            for e in client.get("/v1/events", params={"limit": 3}).json()["data"]
            if e["data"]["object"]["id"] == clock["id"]
        }
        printed = [_next_line(lines), _next_line(lines)]
        for line, event_type in zip(
            printed, ["test_helpers.test_clock.created", "test_helpers.test_clock.ready"], strict=True
        ):
            assert f"--> {event_type} [{expected[event_type]}]" in line
            assert f"<-- [200] POST {receiver.url}" in line
        wait_for(lambda: len(receiver.snapshot()) == 2, what="two forwarded events")
        forwarded = []
        for request in receiver.snapshot():
            event = stripe.Webhook.construct_event(request.body, request.headers["stripe-signature"], secret)
            forwarded.append(event.type)
            assert json.loads(request.body)["data"]["object"]["id"] == clock["id"]
        assert forwarded == ["test_helpers.test_clock.created", "test_helpers.test_clock.ready"]

        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=15) == 0
        except subprocess.TimeoutExpired:
            raise AssertionError(f"^C did not stop `tenure listen`:\n{_stuck(process.pid)}") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_listen_refuses_bad_arguments(database_url: str, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tenure", "listen", *args],
            env=_env(database_url, tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )

    bad_url = run("--forward-to", "ftp://127.0.0.1/hooks")
    assert bad_url.returncode == 2
    assert "http" in bad_url.stderr
    bad_events = run("--forward-to", "http://127.0.0.1:9/hooks", "--events", "customer.created,nope.nope")
    assert bad_events.returncode == 2
    assert "nope.nope" in bad_events.stderr
