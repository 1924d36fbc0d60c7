"""Products and prices through the official `stripe` SDK against a real Tenure server."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture
def sdk(live_server: str, secret_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(secret_key, base_addresses={"api": live_server}, max_network_retries=0)


def test_catalog_with_the_sdk(sdk: stripe.StripeClient) -> None:
    product = sdk.v1.products.create(
        {
            "name": "Pro",
            "description": "For teams",
            "metadata": {"tier": "pro"},
            "default_price_data": {
                "currency": "usd",
                "unit_amount": 4900,
                "recurring": {"interval": "month"},
            },
        }
    )
    assert isinstance(product, stripe.Product)
    assert product.metadata["tier"] == "pro"
    assert isinstance(product.default_price, str)

    yearly = sdk.v1.prices.create(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": 49000,
            "recurring": {"interval": "year", "trial_period_days": 14},
            "lookup_key": "pro_yearly",
            "expand": ["product"],
        }
    )
    assert isinstance(yearly, stripe.Price)
    assert isinstance(yearly.product, stripe.Product)
    assert yearly.product.name == "Pro"
    assert yearly.recurring is not None
    assert (yearly.recurring.interval, yearly.recurring.trial_period_days) == ("year", 14)

    found = sdk.v1.prices.list({"lookup_keys": ["pro_yearly"], "expand": ["data.product"]})
    assert [p.id for p in found.data] == [yearly.id]
    renamed = sdk.v1.prices.update(yearly.id, {"nickname": "Yearly", "metadata": {"plan": "y"}})
    assert (renamed.nickname, renamed.metadata["plan"]) == ("Yearly", "y")

    one_time = sdk.v1.prices.create(
        {"currency": "eur", "unit_amount": 500, "product_data": {"name": "Setup fee"}}
    )
    assert (one_time.type, one_time.recurring) == ("one_time", None)
    updated = sdk.v1.products.update(product.id, {"default_price": yearly.id, "description": ""})
    assert (updated.default_price, updated.description) == (yearly.id, None)
    listed = sdk.v1.products.list({"active": True, "limit": 1})
    assert listed.has_more is True
    assert len(listed.data) == 1

    with pytest.raises(stripe.InvalidRequestError) as bad_interval:
        sdk.v1.prices.create(
            {
                "product": product.id,
                "currency": "usd",
                "unit_amount": 1,
                "recurring": {"interval": "month", "interval_count": 13},
            }
        )
    assert bad_interval.value.param == "recurring[interval_count]"
    with pytest.raises(stripe.InvalidRequestError) as has_prices:
        sdk.v1.products.delete(product.id)
    assert has_prices.value.http_status == 400
    bare = sdk.v1.products.create({"name": "Temporary"})
    assert sdk.v1.products.delete(bare.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as missing:
        sdk.v1.products.retrieve(bare.id)
    assert missing.value.http_status == 404
