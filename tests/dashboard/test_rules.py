"""The dashboard's rules as plain functions: no database, no server."""

from __future__ import annotations

from datetime import date

import pytest

from tenure.dashboard.cancellations import (
    CancellationSource,
    cancellation_source,
    comment_preview,
    reason_label,
)
from tenure.dashboard.listing import SubscriptionFilters, Tab
from tenure.dashboard.roles import Capability, can
from tenure.dashboard.settings_form import SettingsState, field_for
from tenure.dashboard.signin import safe_next


def details(feedback: str | None = None, reason: str = "cancellation_requested") -> dict[str, str | None]:
    return {"feedback": feedback, "comment": None, "reason": reason}


def test_cancellation_sources() -> None:
    at = 1_800_000_000
    assert (
        cancellation_source(
            details(reason="payment_failed"), canceled_at=at, flow_completions=[at], operator_moments=[]
        )
        == CancellationSource.DUNNING
    )
    assert (
        cancellation_source(
            details(reason="payment_disputed"), canceled_at=at, flow_completions=[], operator_moments=[]
        )
        == CancellationSource.DISPUTE
    )
    assert (
        cancellation_source(details("unused"), canceled_at=at, flow_completions=[at], operator_moments=[])
        == CancellationSource.PORTAL
    )
    assert (
        cancellation_source(details("unused"), canceled_at=at, flow_completions=[], operator_moments=[at])
        == CancellationSource.OPERATOR
    )
    # A flow that ended earlier (then the customer kept the subscription) says nothing about today's cancel.
    assert (
        cancellation_source(
            details("unused"), canceled_at=at, flow_completions=[at - 50], operator_moments=[]
        )
        == CancellationSource.API
    )


def test_reason_labels() -> None:
    assert reason_label(details("too_expensive"), custom_code=None, custom_labels={}) == "It’s too expensive"
    assert (
        reason_label(details("low_quality"), custom_code="too_slow", custom_labels={"too_slow": "Too slow"})
        == "Too slow"
    )
    assert (
        reason_label(details(reason="payment_failed"), custom_code=None, custom_labels={}) == "Payment failed"
    )
    assert reason_label(details(), custom_code=None, custom_labels={}) == "No reason given"
    assert comment_preview("  many\n words   here ") == "many words here"
    assert comment_preview("x" * 200) == "x" * 79 + "…"


def test_filters_parse_leniently_and_link_back() -> None:
    parsed = SubscriptionFilters.parse(
        {"tab": "canceled", "from": "2026-01-02", "to": "nope", "page": "3", "reason": "unused"}
    )
    assert parsed == SubscriptionFilters(tab=Tab.CANCELED, since=date(2026, 1, 2), reason="unused", page=3)
    assert parsed.link(page=4) == "/dashboard/subscriptions?tab=canceled&from=2026-01-02&reason=unused&page=4"
    assert parsed.link(tab=Tab.ALL, reason=None, since=None) == "/dashboard/subscriptions"
    assert SubscriptionFilters.parse({"tab": "drop table", "page": "-1"}) == SubscriptionFilters()


@pytest.mark.parametrize(
    ("param", "field"),
    [
        ("features[subscription_cancel][proration_behavior]", "proration_behavior"),
        ("features[subscription_cancel][cancellation_reason][options][0]", "reasons"),
        ("tenure_retention[coupon]", "retention_coupon"),
        ("tenure_retention[offers][too_expensive][pause_months]", "offer[too_expensive]"),
        ("tenure_retention[offers][*]", "offer[*]"),
        ("tenure_custom_reasons[0][labels][en]", "custom[0]"),
        ("tenure_custom_reasons[1][code]", "new_reason"),
        ("tenure_branding[accent_color]", "branding[accent_color]"),
        ("tenure_texts[fr][headline]", "text[fr][headline]"),
        ("name", "general"),
        (None, "general"),
    ],
)
def test_settings_errors_land_next_to_their_field(param: str | None, field: str) -> None:
    state = SettingsState(
        configuration_id="bpc_x", custom=[{"code": "a", "labels": {}, "feedback": "other", "active": True}]
    )
    assert field_for(param, state) == field


def test_roles_and_redirects() -> None:
    assert can("admin", Capability.SETTINGS) and can("analyst", Capability.READ)
    assert not any(can("analyst", c) for c in Capability if c != Capability.READ)
    assert not can("intern", Capability.READ)
    assert safe_next("/dashboard/customers?q=a") == "/dashboard/customers?q=a"
    for bad in (
        "",
        "https://evil.example",
        "//evil.example",
        "/dashboard//evil",
        "/dashboard\\x",
        "/portal",
        "/dashboard/login?next=/x",
    ):
        assert safe_next(bad) == "/dashboard"
