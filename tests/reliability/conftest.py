"""A small business with cancellations made every way a user makes them, on the test's database."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenure.jobs.worker import run_once
from tenure.runtime import Runtime

from .drive import Shop, api_cancel, portal_cancel


@dataclass
class Business:
    shop: Shop
    # subscription id -> (feedback, comment) of each acknowledged cancellation
    canceled: dict[str, tuple[str, str]] = field(default_factory=dict)
    active: list[str] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)


@pytest.fixture
def business(client: TestClient, app: FastAPI, runtime: Runtime) -> Business:
    """Six subscriptions: two canceled in the portal, one scheduled and one ended through the API,
    two active; the worker has run (emails and other jobs done)."""
    shop = Shop(client)
    made = Business(shop=shop)
    made.customers = [shop.customer(index) for index in range(3)]
    subscriptions = [shop.subscribe(made.customers[index % 3]) for index in range(6)]
    for subscription, reason, comment in (
        (subscriptions[0], "too_expensive", "Half the price elsewhere"),
        (subscriptions[1], "other", "Moving <b>abroad</b> & closing shop"),
    ):
        # A fresh cookie jar for each portal visit, not following redirects (to see the 303).
        with TestClient(app, follow_redirects=False) as visitor:
            customer = client.get(f"/v1/subscriptions/{subscription}").json()["customer"]
            answer = portal_cancel(
                client, visitor, customer=customer, subscription=subscription, reason=reason, comment=comment
            )
        assert answer.status_code == 303, answer.text
        made.canceled[subscription] = (reason, comment)
    for subscription, immediately in ((subscriptions[2], False), (subscriptions[3], True)):
        answer = api_cancel(
            client,
            subscription=subscription,
            reason="unused",
            comment="Never opened it",
            immediately=immediately,
        )
        assert answer.status_code == 200, answer.text
        made.canceled[subscription] = ("unused", "Never opened it")
    made.active = subscriptions[4:]
    run_once(runtime)
    return made
