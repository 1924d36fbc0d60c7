"""A client that goes away before its request body arrives is a client event, not a server error."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from tenure.api.idempotency import IdempotencyRecord
from tenure.customers.models import Customer
from tenure.runtime import Runtime


@pytest.fixture
def server_logs(live_server: str, caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything the live server logs: Tenure's loggers and uvicorn's, which do not reach the root."""
    caplog.set_level(logging.INFO, logger="tenure")
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        uvicorn_logger.removeHandler(caplog.handler)


def _send_and_hang_up(
    live_server: str, secret_key: str, *, body: bytes, extra_headers: str, path: str = "/v1/customers"
) -> None:
    address = urlsplit(live_server)
    assert address.hostname is not None and address.port is not None
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {address.netloc}\r\n"
        f"Authorization: Bearer {secret_key}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 4096\r\n"  # promised, never delivered
        f"{extra_headers}\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        time.sleep(0.2)  # the server has started reading the body
    # closed: the rest of the body will never come


@pytest.mark.parametrize("body", [b"", b"name=Ann&email=ann%40exa"], ids=["no-body", "half-a-body"])
@pytest.mark.parametrize("extra_headers", ["", "Idempotency-Key: hung-up\r\n"], ids=["plain", "idempotent"])
def test_a_body_that_never_arrives_is_one_line_not_a_traceback(
    live_server: str,
    secret_key: str,
    runtime: Runtime,
    server_logs: pytest.LogCaptureFixture,
    body: bytes,
    extra_headers: str,
) -> None:
    _send_and_hang_up(live_server, secret_key, body=body, extra_headers=extra_headers)

    deadline = time.monotonic() + 5
    while not [r for r in server_logs.records if "disconnect" in r.getMessage()]:
        assert time.monotonic() < deadline, [r.getMessage() for r in server_logs.records]
        time.sleep(0.05)
    time.sleep(0.3)  # anything logged after the line (a traceback from the server) arrives too

    records = server_logs.records
    noted = [r for r in records if "disconnect" in r.getMessage()]
    assert len(noted) == 1
    assert noted[0].levelno in (logging.INFO, logging.WARNING)
    assert "POST /v1/customers" in noted[0].getMessage()
    assert [r.getMessage() for r in records if r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in records if r.exc_info] == []
    assert "Traceback" not in server_logs.text
    with runtime.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


@pytest.mark.parametrize("path", ["/dashboard/login", "/portal/login/bpc_missing"])
def test_pages_log_a_disconnect_as_one_line_too(
    live_server: str, secret_key: str, server_logs: pytest.LogCaptureFixture, path: str
) -> None:
    _send_and_hang_up(live_server, secret_key, body=b"email=a%40b", extra_headers="", path=path)

    deadline = time.monotonic() + 5
    while not [r for r in server_logs.records if "disconnect" in r.getMessage()]:
        assert time.monotonic() < deadline, [r.getMessage() for r in server_logs.records]
        time.sleep(0.05)
    time.sleep(0.3)
    records = server_logs.records
    assert [r.getMessage() for r in records if "disconnect" in r.getMessage()] == [
        f"client disconnected before sending its body: POST {path}"
    ]
    assert [r.getMessage() for r in records if r.levelno >= logging.ERROR] == []
    assert "Traceback" not in server_logs.text
