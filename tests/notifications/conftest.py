"""A real SMTP server (aiosmtpd) on a free loopback port, a frozen real-time clock, and factories."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient

from tenure import features
from tenure.clock import FrozenClock
from tenure.config import Settings
from tenure.jobs.worker import run_once
from tenure.runtime import Runtime
from tests.conftest import free_port
from tests.subscriptions.conftest import Catalog, ok

BASE_URL = "http://tenure.test"
DAY = 86_400


@dataclass
class Mailbox:
    """What the SMTP server received; `refuse` answers the next n messages with a 4xx."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: int = 0
    refused: int = 0

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def of_kind(self, kind: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["X-Tenure-Kind"] == kind]


class Recorder:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.box.refuse > 0:
            self.box.refuse -= 1
            self.box.refused += 1
            return "451 4.3.0 Try again later"
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.box.messages.append(parsed)
        self.box.envelopes.append((str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos]))
        return "250 Message accepted for delivery"


def start_server(**options: Any) -> tuple[Controller, Mailbox]:
    box = Mailbox(host="127.0.0.1", port=free_port())
    controller = Controller(Recorder(box), hostname=box.host, port=box.port, ready_timeout=10, **options)
    controller.start()
    return controller, box


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    controller, box = start_server()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def clock() -> FrozenClock:
    """Real time for the worker and the API, moved by the tests (retry delays, leases, days)."""
    return FrozenClock(int(time.time()))


@pytest.fixture
def settings(settings: Settings, smtp: Mailbox) -> Settings:
    settings.smtp_url = smtp.url
    settings.mail_from = "Acme Billing <billing@acme.test>"
    settings.operator_email = "ops@acme.test"
    settings.base_url = BASE_URL
    return settings


@pytest.fixture
def runtime(settings: Settings, clock: FrozenClock) -> Iterator[Runtime]:
    built = Runtime.build(settings, clock=clock)
    yield built
    built.close()


def work(runtime: Runtime, passes: int = 2) -> None:
    """Worker passes (jobs queue emails that the next pass sends), as `tenure worker` runs them."""
    features.load()
    for _ in range(passes):
        run_once(runtime)


def restarted(runtime: Runtime) -> Runtime:
    """A new worker process: its own engine and connections, the same settings, store and clock."""
    return Runtime.build(runtime.settings, clock=runtime.clock)


def part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    assert body is not None, f"no text/{subtype} part"
    assert body.get_content_type() == f"text/{subtype}"
    # Babel separates amounts with no-break spaces (`20,00\xa0€`): compare with plain spaces.
    return str(body.get_content()).replace("\r\n", "\n").replace("\xa0", " ").replace("\u202f", " ")


def links(text: str) -> list[str]:
    return re.findall(r"http://tenure\.test(/[^\s\"<>]+)", text)


class Shop(Catalog):
    """Customers and subscriptions through the API, as integrators make them."""

    def customer(self, card: str = "pm_card_visa", **extra: Any) -> str:
        data = {
            "email": extra.pop("email", "ada@example.com"),
            "name": extra.pop("name", "Ada"),
            "payment_method": card,
            "invoice_settings[default_payment_method]": card,
        }
        for key, value in extra.items():
            if isinstance(value, list):
                data.update({f"{key}[{index}]": item for index, item in enumerate(value)})
            else:
                data[key] = value
        return str(ok(self.client.post("/v1/customers", data=data))["id"])

    def subscribe(self, customer: str, price: str | None = None, **extra: Any) -> str:
        data = {"customer": customer, "items[0][price]": price or self.monthly, **extra}
        return str(ok(self.client.post("/v1/subscriptions", data=data))["id"])

    def test_clock(self, frozen_time: int) -> str:
        return str(
            ok(self.client.post("/v1/test_helpers/test_clocks", data={"frozen_time": frozen_time}))["id"]
        )

    def advance(self, clock: str, frozen_time: int) -> None:
        body = ok(
            self.client.post(
                f"/v1/test_helpers/test_clocks/{clock}/advance", data={"frozen_time": frozen_time}
            )
        )
        assert body["status"] == "ready"


@pytest.fixture
def shop(client: TestClient) -> Shop:
    return Shop(client)
