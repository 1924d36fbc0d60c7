"""Parameters and wire shapes of the outbox (`email_message`) and campaigns (`email_campaign`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from tenure.api.lists import ListParams
from tenure.api.params import Params, Timestamp
from tenure.insights.categories import CATEGORIES, UNSPECIFIED
from tenure.notifications.models import EmailCampaign, MessageStatus, OutboxMessage
from tenure.portal.fields import HttpUrl

CAMPAIGN_LOCALES = ("en", "fr", "de", "id")


class MessageList(ListParams):
    status: MessageStatus | None = None
    kind: str | None = Field(default=None, max_length=40)
    customer: str | None = None
    campaign: str | None = None


class CampaignList(ListParams):
    pass


# A segment's `feedback` holds the insights' categories (src/tenure/insights/categories.py): the
# customer's feedback, `payment_failed`/`payment_disputed` (involuntary) or `unspecified` (none).
NO_FEEDBACK = UNSPECIFIED
SEGMENT_FEEDBACK = CATEGORIES


def _segment_feedback(value: str) -> str:
    if value not in SEGMENT_FEEDBACK:
        raise ValueError(f"Invalid feedback {value!r}: must be one of {', '.join(SEGMENT_FEEDBACK)}.")
    return value


class SegmentParams(Params):
    """`canceled`: customers with a canceled subscription and none current (win-back), optionally by
    `feedback` (a standard reason; `payment_failed`, `payment_disputed`: canceled by Tenure for an
    unpaid invoice or a dispute; `unspecified`: no reason given), `canceled_after`/`canceled_before`
    and `prices` (the price of one of its items), all holding for the same canceled subscription;
    `active`: customers with a current subscription; `all`; `customers`: the listed customers."""

    type: Literal["canceled", "active", "all", "customers"]
    feedback: list[Annotated[str, AfterValidator(_segment_feedback)]] | None = Field(
        default=None, max_length=len(SEGMENT_FEEDBACK)
    )
    canceled_after: Timestamp | None = None
    canceled_before: Timestamp | None = None
    prices: list[str] | None = Field(default=None, max_length=100)
    customers: list[str] | None = Field(default=None, max_length=1000)


class CampaignText(Params):
    subject: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=10_000)
    button: str | None = Field(default=None, max_length=60)


class CampaignCreate(Params):
    kind: Literal["win_back", "announcement"]
    name: str | None = Field(default=None, max_length=256)
    segment: SegmentParams
    # `content[<locale>][subject|body|button]`; English is required and stands in for the others.
    content: dict[str, CampaignText]
    url: HttpUrl | None = None
    promotion_code: str | None = None

    @field_validator("content")
    @classmethod
    def _locales(cls, value: dict[str, CampaignText]) -> dict[str, CampaignText]:
        for locale in value:
            if locale not in CAMPAIGN_LOCALES:
                raise ValueError(f"Unsupported locale {locale!r}: use {', '.join(CAMPAIGN_LOCALES)}.")
        english = value.get("en")
        if english is None or not english.subject or not english.body:
            raise ValueError("content[en][subject] and content[en][body] are required.")
        return value

    @model_validator(mode="after")
    def _button_needs_url(self) -> CampaignCreate:
        if self.url is None and any(text.button for text in self.content.values()):
            raise ValueError("A button needs a url.")
        return self


def serialize_message(
    message: OutboxMessage, *, parts: dict[str, str | None] | None = None
) -> dict[str, Any]:
    """An outbox row; `parts` (`text`, `html`) only when retrieving one message."""
    body: dict[str, Any] = {
        "id": message.id,
        "object": "email_message",
        "created": message.created,
        "kind": message.kind,
        "category": message.category,
        "status": message.status,
        "customer": message.customer_id,
        "campaign": message.campaign_id,
        "to": message.to_address,
        "locale": message.locale,
        "subject": message.subject,
        "message_id": message.message_id,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "sent_at": message.sent_at,
        "last_error": message.last_error,
        "eml_path": message.eml_path,
        "livemode": message.livemode,
    }
    if parts is not None:
        body.update(parts)
    return body


def serialize_campaign(campaign: EmailCampaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "object": "email_campaign",
        "created": campaign.created,
        "kind": campaign.kind,
        "name": campaign.name,
        "segment": dict(campaign.segment or {}),
        "content": dict(campaign.content or {}),
        "url": campaign.url,
        "promotion_code": campaign.promotion_code,
        "recipients": campaign.recipients,
        "suppressed": campaign.suppressed,
        "livemode": campaign.livemode,
    }
