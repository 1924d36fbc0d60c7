"""The demo business's catalog: 3 products, monthly and yearly prices in EUR and USD, coupons."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.coupons.schemas import CouponCreate, Promotion, PromotionCodeCreate
from tenure.coupons.service import create_coupon, create_promotion_code
from tenure.prices.models import Price
from tenure.prices.schemas import PriceCreate, PriceRecurring
from tenure.prices.service import create_price
from tenure.products.schemas import ProductCreate
from tenure.products.service import create_product

PLANS = ("starter", "team", "business")
INTERVALS = ("month", "year")
CURRENCIES = ("eur", "usd")

# (name, description, monthly EUR, monthly USD): a year costs ten months.
_PLAN_DETAILS: dict[str, tuple[str, str, int, int]] = {
    "starter": ("Starter", "For freelancers: one workspace, 3 seats.", 900, 1000),
    "team": ("Team", "For growing teams: 20 seats, integrations, priority email.", 2900, 3200),
    "business": ("Business", "Unlimited seats, SSO, audit log and a named account manager.", 7900, 8900),
}

_ADVERB = {"month": "monthly", "year": "yearly"}
PROMOTION_CODE = "WELCOME25"
# Seeding is skipped when an active price already holds this key.
MARKER_LOOKUP_KEY = "starter_monthly_eur"


def lookup_key(plan: str, interval: str, currency: str) -> str:
    """`starter_monthly_eur`, `business_yearly_usd`…"""
    return f"{plan}_{_ADVERB[interval]}_{currency}"


@dataclass
class Catalog:
    """The ids the simulation needs: prices by (plan, interval, currency), and the discounts."""

    prices: dict[tuple[str, str, str], str] = field(default_factory=dict)
    plan_of_price: dict[str, str] = field(default_factory=dict)
    launch_coupon: str = ""  # 25 % off, repeating for 3 months
    welcome_coupon_eur: str = ""  # 10.00 EUR off once
    promotion_code: str = PROMOTION_CODE

    def price(self, plan: str, interval: str, currency: str) -> str:
        return self.prices[(plan, interval, currency)]


def catalog_exists(session: Session) -> bool:
    """Whether the demo catalog was already seeded into this store."""
    held = select(Price.pk).where(Price.lookup_key == MARKER_LOOKUP_KEY, Price.active.is_(True))
    return session.scalar(held.limit(1)) is not None


def create_catalog(session: Session, *, now: int) -> Catalog:
    """Create the products, the 12 prices (with lookup keys), the coupons and the promotion code."""
    catalog = Catalog()
    for plan in PLANS:
        name, description, monthly_eur, monthly_usd = _PLAN_DETAILS[plan]
        product = create_product(
            session,
            ProductCreate(
                name=name, description=description, unit_label="workspace", metadata={"tier": plan}
            ),
            now=now,
        )
        for currency, monthly in (("eur", monthly_eur), ("usd", monthly_usd)):
            for interval in INTERVALS:
                price = create_price(
                    session,
                    PriceCreate(
                        product=product.id,
                        currency=currency,
                        unit_amount=monthly if interval == "month" else monthly * 10,
                        recurring=PriceRecurring(interval=interval),
                        lookup_key=lookup_key(plan, interval, currency),
                        nickname=f"{name} {_ADVERB[interval]} ({currency.upper()})",
                    ),
                    now=now,
                )
                catalog.prices[(plan, interval, currency)] = price.id
                catalog.plan_of_price[price.id] = plan
    launch = create_coupon(
        session,
        CouponCreate(
            name="Launch: 25 % off for 3 months",
            percent_off=Decimal(25),
            duration="repeating",
            duration_in_months=3,
        ),
        now=now,
    )
    welcome = create_coupon(
        session,
        CouponCreate(name="10 € off the first invoice", amount_off=1000, currency="eur", duration="once"),
        now=now,
    )
    create_promotion_code(
        session,
        PromotionCodeCreate(promotion=Promotion(type="coupon", coupon=launch.id), code=PROMOTION_CODE),
        now=now,
    )
    catalog.launch_coupon = launch.id
    catalog.welcome_coupon_eur = welcome.id
    return catalog
