"""Portal sessions: a customer's short-lived link into the portal, optionally deep into one flow."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest
from tenure.customers.lookup import customer_now, get_customer
from tenure.events.service import record_event
from tenure.ids import new_id
from tenure.portal.config_service import effective_configuration
from tenure.portal.models import URL_LIFETIME_SECONDS, PortalSession, hash_token
from tenure.portal.session_flows import normalized_flow
from tenure.portal.session_schemas import SessionCreate, serialize_session

URL_SECRET_BYTES = 32  # 43 url-safe characters


def create_portal_session(
    session: Session, params: SessionCreate, *, real_now: int, base_url: str
) -> tuple[PortalSession, str]:
    """A new session and its URL; the URL's secret is returned here only (just its hash is stored)."""
    if params.on_behalf_of is not None:
        raise InvalidRequest(
            "on_behalf_of is not supported: Tenure has no connected accounts.", param="on_behalf_of"
        )
    customer = get_customer(session, params.customer, param="customer")
    configuration = effective_configuration(session, params.configuration, now=real_now)
    if not configuration.active:
        raise InvalidRequest(f"The configuration {configuration.id} is not active.", param="configuration")
    flow = None
    if params.flow_data is not None:
        flow = normalized_flow(
            session,
            params.flow_data,
            customer=customer,
            configuration=configuration,
            now=customer_now(session, customer, real_now),
        )
    secret = secrets.token_urlsafe(URL_SECRET_BYTES)
    portal_session = PortalSession(
        id=new_id("bps"),
        created=real_now,
        customer_id=customer.id,
        configuration_id=configuration.id,
        return_url=params.return_url or configuration.default_return_url,
        locale=None if params.locale in (None, "auto") else params.locale,
        flow=flow,
        url_secret_hash=hash_token(secret),
        url_expires_at=real_now + URL_LIFETIME_SECONDS,
    )
    session.add(portal_session)
    session.flush()
    record_event(
        session,
        type="billing_portal.session.created",
        obj=serialize_session(portal_session, url=None),
        now=real_now,
    )
    return portal_session, f"{base_url.rstrip('/')}/portal/session/{secret}"
