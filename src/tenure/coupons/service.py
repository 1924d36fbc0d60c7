"""Coupons and promotion codes: create, update, delete, redeem, and what a coupon takes off."""

from __future__ import annotations

import secrets
import string
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenure import money
from tenure.api.errors import InvalidRequest, MissingParameter, ResourceMissing
from tenure.api.lists import apply_range
from tenure.api.metadata import apply_metadata
from tenure.coupons.models import (
    Coupon,
    Duration,
    PromotionCode,
    coupon_is_valid,
    normalize_code,
    promotion_code_is_usable,
)
from tenure.coupons.schemas import (
    CouponCreate,
    CouponList,
    CouponUpdate,
    CurrencyOption,
    PromotionCodeCreate,
    PromotionCodeList,
    PromotionCodeUpdate,
    serialize_coupon,
    serialize_promotion_code,
)
from tenure.events.service import record_event
from tenure.ids import new_id, random_token

COUPON_ID_LENGTH = 8
GENERATED_CODE_LENGTH = 8
_CODE_ALPHABET = string.ascii_uppercase + string.digits

# --- coupons -------------------------------------------------------------------------------------


def get_coupon(
    session: Session,
    coupon_id: str,
    *,
    param: str | None = "coupon",
    include_deleted: bool = False,
    for_update: bool = False,
) -> Coupon:
    """A coupon by id. Deleted coupons are missing unless `include_deleted` (existing discounts)."""
    stmt = select(Coupon).where(Coupon.id == coupon_id)
    if not include_deleted:
        stmt = stmt.where(Coupon.deleted.is_(False))
    if for_update:
        stmt = stmt.with_for_update()
    coupon = session.scalar(stmt)
    if coupon is None:
        raise ResourceMissing("coupon", coupon_id, param=param)
    return coupon


def _coupon_exists() -> InvalidRequest:
    return InvalidRequest("Coupon already exists.", param="id", code="resource_already_exists")


def create_coupon(session: Session, params: CouponCreate, *, now: int) -> Coupon:
    """Create a coupon: exactly one of `percent_off` and `amount_off` (with its currency)."""
    if params.percent_off is not None and params.amount_off is not None:
        raise InvalidRequest(
            "You may only specify one of these parameters: amount_off, percent_off.", param="amount_off"
        )
    if params.percent_off is None and params.amount_off is None:
        raise InvalidRequest(
            "You must pass either `percent_off` or `amount_off`.",
            param="percent_off",
            code="parameter_missing",
        )
    if params.amount_off is not None and params.currency is None:
        raise MissingParameter("currency")
    duration = Duration(params.duration or Duration.ONCE)
    if duration == Duration.REPEATING and params.duration_in_months is None:
        raise MissingParameter("duration_in_months")
    if duration != Duration.REPEATING and params.duration_in_months is not None:
        raise InvalidRequest(
            "duration_in_months can only be set when duration is 'repeating'.", param="duration_in_months"
        )
    if params.redeem_by is not None and params.redeem_by <= now:
        raise InvalidRequest("redeem_by must be in the future.", param="redeem_by")
    if params.id is not None and session.scalar(select(Coupon.pk).where(Coupon.id == params.id)) is not None:
        # Deleted coupons keep their id: discounts granted before the deletion still point at it.
        raise _coupon_exists()
    coupon = Coupon(
        id=params.id or random_token(COUPON_ID_LENGTH),
        created=now,
        name=params.name,
        percent_off=params.percent_off,
        amount_off=params.amount_off,
        currency=params.currency,
        duration=duration,
        duration_in_months=params.duration_in_months,
        max_redemptions=params.max_redemptions,
        redeem_by=params.redeem_by,
        times_redeemed=0,
        deleted=False,
        metadata_=apply_metadata(None, params.metadata),
    )
    session.add(coupon)
    try:
        session.flush()
    except IntegrityError:
        raise _coupon_exists() from None
    record_event(session, type="coupon.created", obj=serialize_coupon(coupon, now), now=now)
    return coupon


def update_coupon(session: Session, coupon_id: str, params: CouponUpdate, *, now: int) -> Coupon:
    """Only `name` and `metadata` change: the terms of a coupon are fixed once created."""
    coupon = get_coupon(session, coupon_id, param="id", for_update=True)
    before = serialize_coupon(coupon, now)
    given = params.model_fields_set
    if "name" in given:
        coupon.name = params.name
    if "metadata" in given:
        coupon.metadata_ = apply_metadata(coupon.metadata_, params.metadata)
    session.flush()
    record_event(session, type="coupon.updated", obj=serialize_coupon(coupon, now), now=now, previous=before)
    return coupon


def delete_coupon(session: Session, coupon_id: str, *, now: int) -> str:
    """Stop new redemptions of a coupon and of its promotion codes; granted discounts keep working."""
    coupon = get_coupon(session, coupon_id, param="id", for_update=True)
    coupon.deleted = True
    codes = session.scalars(
        select(PromotionCode).where(PromotionCode.coupon_id == coupon.id, PromotionCode.active.is_(True))
    ).all()
    for promotion_code in codes:
        before = serialize_promotion_code(promotion_code, now)
        promotion_code.active = False
        session.flush()
        record_event(
            session,
            type="promotion_code.updated",
            obj=serialize_promotion_code(promotion_code, now),
            now=now,
            previous=before,
        )
    session.flush()
    record_event(session, type="coupon.deleted", obj=serialize_coupon(coupon, now), now=now)
    return coupon.id


def coupon_query(params: CouponList) -> Select[Any]:
    return apply_range(select(Coupon).where(Coupon.deleted.is_(False)), Coupon.created, params.created)


def redeem(session: Session, coupon: Coupon, now: int, *, param: str = "coupon") -> None:
    """Count one redemption of `coupon`, refusing it if no longer valid (even under concurrency)."""
    if coupon.deleted:
        raise InvalidRequest(f"No such coupon: '{coupon.id}'", param=param, code="resource_missing")
    if coupon_is_valid(coupon, now):
        # One conditional UPDATE: two concurrent redemptions cannot both take the last one.
        counted = session.scalar(
            update(Coupon)
            .where(
                Coupon.pk == coupon.pk,
                Coupon.deleted.is_(False),
                or_(Coupon.max_redemptions.is_(None), Coupon.times_redeemed < Coupon.max_redemptions),
            )
            .values(times_redeemed=Coupon.times_redeemed + 1)
            .returning(Coupon.times_redeemed)
            .execution_options(synchronize_session=False)
        )
        session.refresh(coupon)
        if counted is not None:
            return
    raise InvalidRequest(f"Coupon expired: {coupon.id}", param=param, code="coupon_expired")


def currency_matches(coupon: Coupon, currency: str) -> bool:
    """Whether `coupon` can apply to amounts in `currency` (percentages apply to any currency)."""
    return coupon.amount_off is None or (coupon.currency or "").lower() == currency.lower()


def discount_amount(coupon: Coupon, amount: int, currency: str) -> int:
    """What `coupon` takes off `amount` minor units of `currency`: never more than the amount.

    An `amount_off` coupon in another currency takes nothing off (Stripe refuses to apply it;
    check `currency_matches` where the coupon is applied).
    """
    if amount <= 0:
        return 0
    if coupon.percent_off is not None:
        return min(amount, money.percent_of(amount, coupon.percent_off))
    if coupon.amount_off is not None and currency_matches(coupon, currency):
        return min(amount, coupon.amount_off)
    return 0


# --- promotion codes -----------------------------------------------------------------------------


def get_promotion_code(
    session: Session, promotion_code_id: str, *, param: str | None = "id", for_update: bool = False
) -> PromotionCode:
    stmt = select(PromotionCode).where(PromotionCode.id == promotion_code_id)
    if for_update:
        stmt = stmt.with_for_update(of=PromotionCode)
    promotion_code = session.scalar(stmt)
    if promotion_code is None:
        raise ResourceMissing("promotion code", promotion_code_id, param=param)
    return promotion_code


def find_active_code(session: Session, code: str, now: int) -> PromotionCode | None:
    """The promotion code a customer typed (any case), if it can be redeemed at `now`."""
    promotion_code = session.scalar(
        select(PromotionCode).where(
            PromotionCode.normalized_code == normalize_code(code), PromotionCode.active.is_(True)
        )
    )
    if promotion_code is None or not promotion_code_is_usable(promotion_code, now):
        return None
    return promotion_code


def redeem_promotion_code(
    session: Session, promotion_code: PromotionCode, now: int, *, param: str = "promotion_code"
) -> None:
    """Count one redemption of the code and of its coupon, refusing a code that is no longer usable."""
    if promotion_code_is_usable(promotion_code, now):
        counted = session.scalar(
            update(PromotionCode)
            .where(
                PromotionCode.pk == promotion_code.pk,
                PromotionCode.active.is_(True),
                or_(
                    PromotionCode.max_redemptions.is_(None),
                    PromotionCode.times_redeemed < PromotionCode.max_redemptions,
                ),
            )
            .values(times_redeemed=PromotionCode.times_redeemed + 1)
            .returning(PromotionCode.times_redeemed)
            .execution_options(synchronize_session=False)
        )
        session.refresh(promotion_code)
        if counted is not None:
            redeem(session, promotion_code.coupon, now, param=param)
            return
    raise InvalidRequest(
        f"This promotion code cannot be redeemed: '{promotion_code.code}'", param=param, code="coupon_expired"
    )


def _code_taken(code: str) -> InvalidRequest:
    return InvalidRequest(f"An active promotion code with the code `{code}` already exists.", param="code")


def _active_code_exists(session: Session, code: str, *, exclude: str | None = None) -> bool:
    stmt = select(PromotionCode.pk).where(
        PromotionCode.normalized_code == normalize_code(code), PromotionCode.active.is_(True)
    )
    if exclude is not None:
        stmt = stmt.where(PromotionCode.id != exclude)
    return session.scalar(stmt.limit(1)) is not None


def _new_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(GENERATED_CODE_LENGTH))
        if not _active_code_exists(session, code):
            return code


def _promotion_coupon(session: Session, params: PromotionCodeCreate, now: int) -> Coupon:
    """The coupon named by `promotion[coupon]` (current API) or `coupon` (before 2025-09)."""
    promoted = params.promotion.coupon if params.promotion is not None else None
    if params.promotion is not None and promoted is None:
        raise MissingParameter("promotion[coupon]")
    if promoted is not None and params.coupon is not None and promoted != params.coupon:
        raise InvalidRequest(
            "You may only specify one of these parameters: coupon, promotion.", param="coupon"
        )
    coupon_id = promoted or params.coupon
    param = "promotion[coupon]" if promoted is not None else "coupon"
    if coupon_id is None:
        raise MissingParameter("promotion")
    coupon = session.scalar(select(Coupon).where(Coupon.id == coupon_id, Coupon.deleted.is_(False)))
    if coupon is None:
        raise InvalidRequest(f"No such coupon: '{coupon_id}'", param=param, code="resource_missing")
    if not coupon_is_valid(coupon, now):
        raise InvalidRequest(f"Coupon expired: {coupon_id}", param=param, code="coupon_expired")
    return coupon


def _currency_options(
    options: dict[str, CurrencyOption], *, main_currency: str | None, current: dict[str, Any]
) -> dict[str, Any]:
    if main_currency is None:
        raise InvalidRequest(
            "restrictions[currency_options] needs a minimum amount: set restrictions[minimum_amount] "
            "and restrictions[minimum_amount_currency].",
            param="restrictions[currency_options]",
        )
    merged = dict(current)
    for currency, option in options.items():
        param = f"restrictions[currency_options][{currency}]"
        if currency == main_currency:
            raise InvalidRequest(
                "This currency option matches restrictions[minimum_amount_currency]: "
                "set restrictions[minimum_amount] instead.",
                param=param,
            )
        if option.minimum_amount is None:
            raise MissingParameter(f"{param}[minimum_amount]")
        merged[currency] = {"minimum_amount": option.minimum_amount}
    return merged


def create_promotion_code(session: Session, params: PromotionCodeCreate, *, now: int) -> PromotionCode:
    """Create a customer-facing code for a valid coupon; an active code is unique regardless of case."""
    coupon = _promotion_coupon(session, params, now)
    if params.expires_at is not None:
        if params.expires_at <= now:
            raise InvalidRequest("expires_at must be in the future.", param="expires_at")
        if coupon.redeem_by is not None and params.expires_at > coupon.redeem_by:
            raise InvalidRequest(
                f"expires_at cannot be after the coupon's redeem_by ({coupon.redeem_by}).", param="expires_at"
            )
    restrictions = params.restrictions
    minimum_amount = restrictions.minimum_amount if restrictions else None
    minimum_currency = restrictions.minimum_amount_currency if restrictions else None
    if minimum_amount is not None and minimum_currency is None:
        raise MissingParameter("restrictions[minimum_amount_currency]")
    if minimum_currency is not None and minimum_amount is None:
        raise MissingParameter("restrictions[minimum_amount]")
    currency_options: dict[str, Any] = {}
    if restrictions is not None and restrictions.currency_options:
        currency_options = _currency_options(
            restrictions.currency_options, main_currency=minimum_currency, current={}
        )
    active = params.active is not False
    if params.code is None:
        code = _new_code(session)
    else:
        code = params.code
        if active and _active_code_exists(session, code):
            raise _code_taken(code)
    promotion_code = PromotionCode(
        id=new_id("promo"),
        created=now,
        code=code,
        normalized_code=normalize_code(code),
        coupon_id=coupon.id,
        coupon=coupon,
        active=active,
        customer_id=params.customer,
        expires_at=params.expires_at,
        max_redemptions=params.max_redemptions,
        times_redeemed=0,
        restrictions_first_time_transaction=bool(restrictions and restrictions.first_time_transaction),
        restrictions_minimum_amount=minimum_amount,
        restrictions_minimum_amount_currency=minimum_currency,
        restrictions_currency_options=currency_options,
        metadata_=apply_metadata(None, params.metadata),
    )
    session.add(promotion_code)
    try:
        session.flush()
    except IntegrityError:  # the same code created concurrently
        raise _code_taken(code) from None
    record_event(
        session, type="promotion_code.created", obj=serialize_promotion_code(promotion_code, now), now=now
    )
    return promotion_code


def update_promotion_code(
    session: Session, promotion_code_id: str, params: PromotionCodeUpdate, *, now: int
) -> PromotionCode:
    """Activate or deactivate a code, change its metadata or its minimums in other currencies."""
    promotion_code = get_promotion_code(session, promotion_code_id, for_update=True)
    before = serialize_promotion_code(promotion_code, now)
    if params.active is True and not promotion_code.active:
        if _active_code_exists(session, promotion_code.code, exclude=promotion_code.id):
            raise _code_taken(promotion_code.code)
        promotion_code.active = True
        if not promotion_code_is_usable(promotion_code, now):
            raise InvalidRequest(
                "This promotion code cannot be reactivated: it has expired, reached its maximum "
                "redemptions, or its coupon is no longer valid.",
                param="active",
            )
    elif params.active is False:
        promotion_code.active = False
    if params.restrictions is not None and params.restrictions.currency_options is not None:
        promotion_code.restrictions_currency_options = _currency_options(
            params.restrictions.currency_options,
            main_currency=promotion_code.restrictions_minimum_amount_currency,
            current=promotion_code.restrictions_currency_options or {},
        )
    if "metadata" in params.model_fields_set:
        promotion_code.metadata_ = apply_metadata(promotion_code.metadata_, params.metadata)
    try:
        session.flush()
    except IntegrityError:  # reactivated concurrently with another code of the same name
        raise _code_taken(promotion_code.code) from None
    record_event(
        session,
        type="promotion_code.updated",
        obj=serialize_promotion_code(promotion_code, now),
        now=now,
        previous=before,
    )
    return promotion_code


def promotion_code_query(params: PromotionCodeList) -> Select[Any]:
    stmt = select(PromotionCode)
    if params.active is not None:
        stmt = stmt.where(PromotionCode.active.is_(params.active))
    if params.code is not None:
        stmt = stmt.where(PromotionCode.normalized_code == normalize_code(params.code))
    if params.coupon is not None:
        stmt = stmt.where(PromotionCode.coupon_id == params.coupon)
    if params.customer is not None:
        stmt = stmt.where(PromotionCode.customer_id == params.customer)
    return apply_range(stmt, PromotionCode.created, params.created)
