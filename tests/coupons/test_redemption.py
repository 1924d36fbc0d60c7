"""Redeeming coupons and promotion codes through the service, as billing code will."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest
from tenure.coupons import service
from tenure.coupons.schemas import CouponCreate, Promotion, PromotionCodeCreate
from tenure.runtime import Runtime

NOW = 1_800_000_000
DAY = 86400


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.sessionmaker() as opened:
        yield opened


def _coupon(session: Session, **params: object) -> str:
    coupon = service.create_coupon(
        session, CouponCreate.model_validate({"percent_off": "10", **params}), now=NOW
    )
    session.commit()
    return coupon.id


def _code(session: Session, coupon_id: str, **params: object) -> str:
    created = service.create_promotion_code(
        session,
        PromotionCodeCreate.model_validate(
            {"promotion": Promotion(type="coupon", coupon=coupon_id), **params}
        ),
        now=NOW,
    )
    session.commit()
    return created.id


def test_redeem_counts_until_max_redemptions(session: Session) -> None:
    coupon = service.get_coupon(session, _coupon(session, max_redemptions=2))
    service.redeem(session, coupon, NOW)
    service.redeem(session, coupon, NOW)
    assert coupon.times_redeemed == 2
    with pytest.raises(InvalidRequest) as exhausted:
        service.redeem(session, coupon, NOW, param="discounts[0][coupon]")
    assert (exhausted.value.code, exhausted.value.param) == ("coupon_expired", "discounts[0][coupon]")
    session.commit()
    assert service.get_coupon(session, coupon.id).times_redeemed == 2


def test_redeem_refuses_expired_and_deleted_coupons(session: Session) -> None:
    expiring = service.get_coupon(session, _coupon(session, redeem_by=NOW + DAY))
    with pytest.raises(InvalidRequest):
        service.redeem(session, expiring, NOW + DAY + 1)
    service.redeem(session, expiring, NOW + DAY)
    deleted_id = _coupon(session)
    service.delete_coupon(session, deleted_id, now=NOW)
    gone = service.get_coupon(session, deleted_id, include_deleted=True)
    assert gone.deleted is True
    with pytest.raises(InvalidRequest) as missing:
        service.redeem(session, gone, NOW)
    assert missing.value.code == "resource_missing"


def test_redeem_reads_the_stored_count(session: Session, runtime: Runtime) -> None:
    """A stale in-memory count cannot let one more redemption through than `max_redemptions`."""
    coupon_id = _coupon(session, max_redemptions=1)
    stale = service.get_coupon(session, coupon_id)
    session.commit()  # end the read; the object keeps the count it read
    with runtime.sessionmaker() as other:
        service.redeem(other, service.get_coupon(other, coupon_id), NOW)
        other.commit()
    assert stale.times_redeemed == 0
    with pytest.raises(InvalidRequest):
        service.redeem(session, stale, NOW)


def test_find_active_code_ignores_case_and_unusable_codes(session: Session) -> None:
    coupon_id = _coupon(session)
    code_id = _code(session, coupon_id, code="Spring25", expires_at=NOW + DAY, max_redemptions=1)
    found = service.find_active_code(session, "SPRING25", NOW)
    assert found is not None and found.id == code_id
    assert service.find_active_code(session, "spring25", NOW + DAY + 1) is None
    assert service.find_active_code(session, "unknown", NOW) is None
    service.redeem_promotion_code(session, found, NOW)
    assert (found.times_redeemed, found.coupon.times_redeemed) == (1, 1)
    assert service.find_active_code(session, "spring25", NOW) is None
    with pytest.raises(InvalidRequest) as used_up:
        service.redeem_promotion_code(session, found, NOW)
    assert used_up.value.param == "promotion_code"


def test_discount_amount_on_a_stored_coupon(session: Session) -> None:
    coupon = service.get_coupon(session, _coupon(session, percent_off="12.5"))
    assert coupon.percent_off == Decimal("12.5")
    assert service.discount_amount(coupon, 1000, "usd") == 125
