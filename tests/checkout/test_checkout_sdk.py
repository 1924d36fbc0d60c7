"""The official `stripe` SDK creates, retrieves, lists and expires checkout sessions."""

from __future__ import annotations

import stripe
from tests.checkout.conftest import CANCEL_URL, SUCCESS_URL
from tests.portal_pages.conftest import Shop


def test_sdk_creates_and_retrieves_checkout_sessions(shop: Shop) -> None:
    sdk = shop.sdk
    created = sdk.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "line_items": [{"price": shop.monthly, "quantity": 2}],
            "customer_email": "ada@example.com",
            "success_url": SUCCESS_URL,
            "cancel_url": CANCEL_URL,
            "allow_promotion_codes": True,
            "locale": "fr",
            "subscription_data": {"trial_period_days": 7, "metadata": {"campaign": "spring"}},
            "payment_method_types": ["card", "sepa_debit"],
            "metadata": {"order": "42"},
        }
    )
    assert isinstance(created, stripe.checkout.Session)
    assert created.id.startswith("cs_")
    assert (created.mode, created.status, created.payment_status) == ("subscription", "open", "unpaid")
    assert created.url is not None and created.url.endswith(f"/checkout/{created.id}")
    assert created.payment_method_types == ["card", "sepa_debit"]
    assert created.metadata is not None and created.metadata.to_dict() == {"order": "42"}
    assert created.expires_at == created.created + 24 * 3600

    retrieved = sdk.v1.checkout.sessions.retrieve(created.id, {"expand": ["line_items"]})
    assert retrieved.id == created.id and retrieved.locale == "fr"
    assert retrieved.line_items is not None
    [item] = retrieved.line_items.data
    assert (item.quantity, item.amount_subtotal, item.price.id) == (2, 4000, shop.monthly)
    listed = sdk.v1.checkout.sessions.line_items.list(created.id)
    assert [i.id for i in listed.data] == [item.id]

    assert [s.id for s in sdk.v1.checkout.sessions.list({"status": "open"}).data] == [created.id]
    updated = sdk.v1.checkout.sessions.update(created.id, {"metadata": {"order": "", "note": "vip"}})
    assert updated.metadata is not None and updated.metadata.to_dict() == {"note": "vip"}
    expired = sdk.v1.checkout.sessions.expire(created.id)
    assert (expired.status, expired.url) == ("expired", None)
    try:
        sdk.v1.checkout.sessions.create({"mode": "subscription", "success_url": SUCCESS_URL})
    except stripe.InvalidRequestError as error:
        assert error.param == "line_items"
    else:
        raise AssertionError("a session without line items was created")
