"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from tenure.api.idempotency import IdempotencyRecord
from tenure.coupons.models import Coupon, PromotionCode
from tenure.customers.models import Customer
from tenure.db.base import Base
from tenure.events.models import Event
from tenure.invoices.models import Invoice, InvoiceLine
from tenure.jobs.models import Job
from tenure.keys.models import ApiKey
from tenure.payments.models import PaymentMethod
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.staff.models import StaffUser
from tenure.subscriptions.models import Discount, Subscription, SubscriptionItem
from tenure.testclocks.models import TestClock
from tenure.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "Base",
    "Coupon",
    "Customer",
    "Discount",
    "Event",
    "IdempotencyRecord",
    "Invoice",
    "InvoiceLine",
    "Job",
    "PaymentMethod",
    "Price",
    "Product",
    "PromotionCode",
    "StaffUser",
    "Subscription",
    "SubscriptionItem",
    "TestClock",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
