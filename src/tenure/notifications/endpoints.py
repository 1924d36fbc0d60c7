"""`/v1/email_messages` (the outbox, for the dashboard) and `/v1/email_campaigns` (Tenure extensions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from tenure.api.deps import RuntimeDep, SessionDep, params_of
from tenure.api.errors import ResourceMissing
from tenure.api.lists import paginate
from tenure.api.responses import json_response
from tenure.api.route import ApiRoute
from tenure.notifications import campaigns
from tenure.notifications.delivery import outbox_box, parse_raw
from tenure.notifications.models import SENSITIVE_KINDS, EmailCampaign, OutboxMessage
from tenure.notifications.outbox import message_query
from tenure.notifications.schemas import (
    CampaignCreate,
    CampaignList,
    MessageList,
    serialize_campaign,
    serialize_message,
)
from tenure.products.api_support import reject_nul_bytes

MESSAGES = "/v1/email_messages"
CAMPAIGNS = "/v1/email_campaigns"
GUARDS = [Depends(reject_nul_bytes)]
messages_router = APIRouter(
    prefix=MESSAGES, route_class=ApiRoute, tags=["notifications"], dependencies=GUARDS
)
campaigns_router = APIRouter(
    prefix=CAMPAIGNS, route_class=ApiRoute, tags=["notifications"], dependencies=GUARDS
)


@messages_router.get("")
def list_messages(
    session: SessionDep, params: Annotated[MessageList, Depends(params_of(MessageList))]
) -> Response:
    stmt = message_query(
        status=params.status, kind=params.kind, customer=params.customer, campaign=params.campaign
    )
    return json_response(
        paginate(session, stmt, OutboxMessage, params, url=MESSAGES, serialize=serialize_message)
    )


@messages_router.get("/{message_id}")
def retrieve_message(session: SessionDep, runtime: RuntimeDep, message_id: str) -> Response:
    """One message with its `text` and `html` parts (null until composed, and for sign-in links)."""
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id))
    if message is None:
        raise ResourceMissing("email message", message_id)
    parts: dict[str, str | None] = {"text": None, "html": None}
    if message.raw is not None and message.kind not in SENSITIVE_KINDS:
        try:
            parsed = parse_raw(outbox_box(runtime.settings).decrypt(message.raw))
        except ValueError:
            parsed = None
        if parsed is not None:
            for name, subtype in (("text", "plain"), ("html", "html")):
                part = parsed.get_body(preferencelist=(subtype,))
                parts[name] = str(part.get_content()) if part is not None else None
    return json_response(serialize_message(message, parts=parts))


@campaigns_router.post("")
def create_campaign(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[CampaignCreate, Depends(params_of(CampaignCreate))],
) -> Response:
    campaign = campaigns.create_campaign(session, params, now=runtime.clock.now())
    return json_response(serialize_campaign(campaign))


@campaigns_router.get("")
def list_campaigns(
    session: SessionDep, params: Annotated[CampaignList, Depends(params_of(CampaignList))]
) -> Response:
    page = paginate(
        session, select(EmailCampaign), EmailCampaign, params, url=CAMPAIGNS, serialize=serialize_campaign
    )
    return json_response(page)


@campaigns_router.get("/{campaign_id}")
def retrieve_campaign(session: SessionDep, campaign_id: str) -> Response:
    return json_response(serialize_campaign(campaigns.get_campaign(session, campaign_id)))
