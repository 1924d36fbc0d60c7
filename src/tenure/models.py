"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from tenure.api.idempotency import IdempotencyRecord
from tenure.audit.models import AuditEntry
from tenure.checkout.models import CheckoutSession
from tenure.coupons.models import Coupon, PromotionCode
from tenure.customers.models import Customer
from tenure.dashboard.models import SignInFailure, StaffAction, StaffSession
from tenure.db.base import Base
from tenure.events.models import ConsumerCheckpoint, Event
from tenure.insights.models import CancellationDay, CancellationRecord
from tenure.invoices.models import Invoice, InvoiceLine
from tenure.jobs.models import Job
from tenure.keys.models import ApiKey
from tenure.notifications.models import EmailCampaign, OutboxMessage, RenewalReminderPlan
from tenure.payments.models import PaymentMethod
from tenure.portal.login_links import PortalLoginAttempt, PortalLoginLink
from tenure.portal.models import PortalConfiguration, PortalSession
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.ratelimit_models import RateLimitBucket
from tenure.retention.models import CancellationFlow
from tenure.staff.models import StaffUser
from tenure.subscriptions.models import Discount, Subscription, SubscriptionItem
from tenure.testclocks.models import TestClock
from tenure.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Base",
    "CancellationDay",
    "CancellationFlow",
    "CancellationRecord",
    "CheckoutSession",
    "ConsumerCheckpoint",
    "Coupon",
    "Customer",
    "Discount",
    "EmailCampaign",
    "Event",
    "IdempotencyRecord",
    "Invoice",
    "InvoiceLine",
    "Job",
    "OutboxMessage",
    "PaymentMethod",
    "PortalConfiguration",
    "PortalLoginAttempt",
    "PortalLoginLink",
    "PortalSession",
    "Price",
    "Product",
    "PromotionCode",
    "RateLimitBucket",
    "RenewalReminderPlan",
    "SignInFailure",
    "StaffAction",
    "StaffSession",
    "StaffUser",
    "Subscription",
    "SubscriptionItem",
    "TestClock",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
