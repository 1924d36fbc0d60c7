"""Several portal sessions of one customer on one subscription, racing from real threads against a
real server (issue #15): one cancellation owned by one flow, at most one retention offer, and every
other flow closed as `superseded` — never counted as a save or a cancellation."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tenure.consistency import check_store
from tenure.insights.models import CancellationRecord
from tenure.runtime import Runtime
from tests.retention.conftest import Business, Tab, flows_of, simultaneously


def test_four_simultaneous_cancels_from_two_sessions_leave_one_canceled_flow(
    api: httpx.Client, live_server: str, business: Business, runtime: Runtime
) -> None:
    customer, subscription = business.subscriber(locale="id")
    first, second = (
        Tab.open(api, live_server, customer=customer, subscription=subscription) for _ in range(2)
    )
    assert first.flow != second.flow
    # Without an offer configured, the reason form cancels; so does "No thanks" on the offer step.
    answers = simultaneously(
        [
            lambda: first.post("/reason", reason="too_expensive", comment="first window"),
            lambda: first.post("/offer", answer="decline"),
            lambda: second.post("/reason", reason="unused", comment="second window"),
            lambda: second.post("/offer", answer="decline"),
        ]
    )
    assert [answer.status_code for answer in answers] == [303] * 4, [a.text[:300] for a in answers]

    after = business.subscription(subscription)
    assert after["cancel_at_period_end"] is True
    [event] = business.updated_events(subscription)
    assert event["data"]["previous_attributes"]["cancel_at_period_end"] is False

    flows = flows_of(runtime, subscription)
    outcomes = sorted(str(flow.outcome) for flow in flows.values())
    assert outcomes == ["canceled", "superseded"]
    [owner] = [flow for flow in flows.values() if flow.outcome == "canceled"]
    [closed] = [flow for flow in flows.values() if flow.outcome == "superseded"]
    # The flow that owns the cancellation is the one whose reason the subscription records.
    assert after["cancellation_details"]["feedback"] == owner.feedback
    assert after["canceled_at"] == owner.completed_at
    assert closed.completed_at is not None
    with runtime.sessionmaker() as session:
        record = session.scalar(
            select(CancellationRecord).where(CancellationRecord.subscription_id == subscription)
        )
        assert record is not None and record.flow_id == owner.id
        assert check_store(session) == []

    # The window that lost the race says so, in the customer's language.
    loser = first if closed.id == first.flow else second
    done = loser.get(f"{loser.base}/done?flow={loser.flow}")
    assert done.status_code == 200
    assert "Sudah dijawab di jendela lain" in done.text
    assert "Langganan Anda akan berakhir pada" in done.text

    funnel = business.retention_funnel()
    # Whichever POST won ("No thanks" cancels without a reason), only the owning flow is counted.
    given = 1 if owner.reason_at is not None else 0
    assert (funnel["flows_started"], funnel["reasons_given"], funnel["offers_accepted"]) == (1, given, 0)


def test_simultaneous_acceptances_from_three_sessions_apply_one_offer(
    api: httpx.Client, live_server: str, business: Business, runtime: Runtime
) -> None:
    configuration = business.retention_coupon(50)
    customer, subscription = business.subscriber()
    tabs = [
        Tab.open(api, live_server, customer=customer, subscription=subscription, configuration=configuration)
        for _ in range(3)
    ]
    for tab in tabs:
        shown = tab.post("/reason", reason="too_expensive")
        assert shown.status_code == 303 and "/offer?" in shown.headers["location"], shown.text

    answers = simultaneously([lambda tab=tab: tab.post("/offer", answer="accept") for tab in tabs])  # type: ignore[misc]
    assert sorted(answer.status_code for answer in answers) == [303, 409, 409]
    for refused in (answer for answer in answers if answer.status_code == 409):
        assert "This offer is no longer available" in refused.text
        assert "already has a discount" in refused.text

    after = business.subscription(subscription)
    assert len(after["discounts"]) == 1
    assert after["cancel_at_period_end"] is False
    assert len(business.updated_events(subscription)) == 1
    flows = flows_of(runtime, subscription)
    assert sorted(str(flow.outcome) for flow in flows.values()) == ["saved", "superseded", "superseded"]
    assert [flow.offer_response for flow in flows.values()].count("accepted") == 1
    with runtime.sessionmaker() as session:
        assert check_store(session) == []
    funnel = business.retention_funnel()
    assert (funnel["flows_started"], funnel["offers_shown"], funnel["offers_accepted"]) == (1, 1, 1)


def test_an_offer_is_refused_once_the_subscription_is_canceled_elsewhere(
    api: httpx.Client, live_server: str, business: Business, runtime: Runtime
) -> None:
    """The business cancels through the API while the customer looks at the offer."""
    configuration = business.retention_coupon(50)
    customer, subscription = business.subscriber(locale="fr")
    tab = Tab.open(
        api, live_server, customer=customer, subscription=subscription, configuration=configuration
    )
    assert tab.post("/reason", reason="unused").status_code == 303
    canceled = api.post(f"/v1/subscriptions/{subscription}", data={"cancel_at_period_end": "true"})
    assert canceled.status_code == 200

    refused = tab.post("/offer", answer="accept")
    assert refused.status_code == 409
    assert "Cette offre n’est plus disponible" in refused.text
    assert "déjà programmé pour être résilié" in refused.text
    after = business.subscription(subscription)
    assert after["discounts"] == [] and after["cancel_at_period_end"] is True
    [flow] = flows_of(runtime, subscription).values()
    assert (flow.outcome, flow.offer_response) == (None, None)  # refused: nothing recorded

    # "No thanks" then cancels nothing more, and the flow does not claim the API's cancellation.
    declined = tab.post("/offer", answer="decline")
    assert declined.status_code == 303
    [flow] = flows_of(runtime, subscription).values()
    assert flow.outcome == "superseded"
    assert len(business.updated_events(subscription)) == 1
    with runtime.sessionmaker() as session:
        assert check_store(session) == []
