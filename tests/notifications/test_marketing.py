"""Campaigns to a segment, and unsubscribing: after the click no marketing email reaches the customer,
while transactional ones still do."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tenure.runtime import Runtime
from tests.notifications.conftest import Mailbox, Shop, links, part, work
from tests.subscriptions.conftest import ok

CAMPAIGNS = "/v1/email_campaigns"


def campaign(client: TestClient, **data: Any) -> dict[str, Any]:
    body = {
        "kind": "announcement",
        "segment[type]": "active",
        "content[en][subject]": "New: team spaces",
        "content[en][body]": "Hello!\n\nTeam spaces are here.",
        "content[fr][subject]": "Nouveau : les espaces d’équipe",
        "content[fr][body]": "Bonjour !\n\nLes espaces d’équipe sont là.",
        **data,
    }
    return ok(client.post(CAMPAIGNS, data=body))


def test_unsubscribe_stops_marketing_but_not_transactional_emails(
    shop: Shop, smtp: Mailbox, runtime: Runtime, client: TestClient
) -> None:
    ada = shop.customer(email="ada@example.com", preferred_locales=["fr"])
    bob = shop.customer(email="bob@example.com")
    ada_subscription = shop.subscribe(ada)
    shop.subscribe(bob)
    first = campaign(client, url="https://acme.test/news", **{"content[en][button]": "See what’s new"})
    assert (first["object"], first["recipients"], first["suppressed"]) == ("email_campaign", 2, 0)
    work(runtime)
    [to_ada] = smtp.to("ada@example.com")
    assert to_ada["Subject"] == "Nouveau : les espaces d’équipe"
    assert to_ada["X-Tenure-Kind"] == "announcement"
    assert to_ada["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = re.fullmatch(r"<http://tenure\.test(/email/unsubscribe/[\w.-]+)>", to_ada["List-Unsubscribe"])
    assert header is not None
    text, html = part(to_ada, "plain"), part(to_ada, "html")
    assert "Les espaces d’équipe sont là." in text and "Se désabonner de ces e-mails" in html
    assert header[1] in links(text) and header[1] in html
    assert "https://acme.test/news" in text

    # The link asks first: a scanner fetching it unsubscribes nobody.
    page = client.get(header[1])
    assert page.status_code == 200 and "ada@example.com" in page.text
    assert client.get(f"/v1/customers/{ada}").json()["tenure_marketing_opt_out"] is False
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    assert client.post(header[1], data={"csrf_token": "forged"}).status_code == 403
    done = client.post(header[1], data={"csrf_token": csrf[1]})
    assert done.status_code == 200 and "Désinscription confirmée" in done.text
    assert client.get(f"/v1/customers/{ada}").json()["tenure_marketing_opt_out"] is True
    events = client.get("/v1/events", params={"type": "customer.updated"}).json()["data"]
    assert events[0]["data"]["previous_attributes"] == {"tenure_marketing_opt_out": False}

    second = campaign(client, kind="win_back", **{"segment[type]": "all"})
    assert (second["recipients"], second["suppressed"]) == (2, 1)
    ok(client.post(f"/v1/subscriptions/{ada_subscription}", data={"cancel_at_period_end": "true"}))
    work(runtime)
    assert [m["X-Tenure-Kind"] for m in smtp.to("ada@example.com")] == ["announcement", "cancellation"]
    assert [m["X-Tenure-Kind"] for m in smtp.to("bob@example.com")] == ["announcement", "win_back"]
    suppressed = ok(client.get("/v1/email_messages", params={"status": "suppressed"}))["data"]
    assert [(m["customer"], m["campaign"]) for m in suppressed] == [(ada, second["id"])]


def test_one_click_unsubscribe_and_a_late_unsubscribe(
    shop: Shop, smtp: Mailbox, runtime: Runtime, client: TestClient
) -> None:
    customer = shop.customer(email="cy@example.com")
    shop.subscribe(customer)
    campaign(client)
    work(runtime)
    [message] = smtp.messages
    url = re.fullmatch(r"<http://tenure\.test(/\S+)>", message["List-Unsubscribe"])
    assert url is not None
    # RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click`, without any page or token.
    assert client.post(url[1], data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert client.get(f"/v1/customers/{customer}").json()["tenure_marketing_opt_out"] is True
    # Opting in again through the API, queuing, then unsubscribing before the worker sends: suppressed.
    ok(client.post(f"/v1/customers/{customer}", data={"tenure_marketing_opt_out": "false"}))
    campaign(client)
    assert client.post(url[1], data={"List-Unsubscribe": "One-Click"}).status_code == 200
    work(runtime)
    assert len(smtp.messages) == 1
    assert client.get("/email/unsubscribe/cus_x.forged").status_code == 404


def test_win_back_segment_by_reason(shop: Shop, smtp: Mailbox, runtime: Runtime, client: TestClient) -> None:
    pricey = shop.customer(email="pricey@example.com")
    unused = shop.customer(email="unused@example.com")
    current = shop.customer(email="current@example.com")
    for customer, feedback in ((pricey, "too_expensive"), (unused, "unused"), (current, "too_expensive")):
        subscription = shop.subscribe(customer)
        ok(
            client.delete(
                f"/v1/subscriptions/{subscription}", params={"cancellation_details[feedback]": feedback}
            )
        )
    shop.subscribe(current)  # came back: not a win-back target
    made = campaign(
        client,
        kind="win_back",
        promotion_code=ok(
            client.post(
                "/v1/promotion_codes",
                data={
                    "code": "COMEBACK",
                    "promotion[type]": "coupon",
                    "promotion[coupon]": ok(
                        client.post("/v1/coupons", data={"percent_off": 50, "duration": "once"})
                    )["id"],
                },
            )
        )["id"],
        **{"segment[type]": "canceled", "segment[feedback][0]": "too_expensive"},
    )
    assert made["recipients"] == 1 and made["promotion_code"] == "COMEBACK"
    work(runtime)
    winback = [m for m in smtp.messages if m["X-Tenure-Kind"] == "win_back"]
    assert [m["To"] for m in winback] == ["pricey@example.com"]
    assert "Your code: COMEBACK" in part(winback[0], "plain")
    refused = client.post(
        CAMPAIGNS, data={"kind": "announcement", "segment[type]": "all", "content[de][subject]": "x"}
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "content"
