"""`/v1/billing_portal/configurations` and `/v1/billing_portal/sessions`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.deps import ExpandDep, RuntimeDep, SessionDep, params_of
from tenure.api.expand import expand, register_expandable, register_loader
from tenure.api.lists import paginate
from tenure.api.responses import json_response
from tenure.api.route import ApiRoute
from tenure.portal import config_service
from tenure.portal.config_schemas import (
    ConfigurationCreate,
    ConfigurationList,
    ConfigurationUpdate,
    serialize_configuration,
)
from tenure.portal.models import PortalConfiguration
from tenure.portal.session_schemas import SessionCreate, serialize_session
from tenure.portal.session_service import create_portal_session
from tenure.products.api_support import reject_nul_bytes
from tenure.runtime import Runtime

CONFIGURATIONS = "/v1/billing_portal/configurations"
GUARDS = [Depends(reject_nul_bytes)]
configurations_router = APIRouter(
    prefix=CONFIGURATIONS, route_class=ApiRoute, tags=["billing_portal"], dependencies=GUARDS
)
sessions_router = APIRouter(
    prefix="/v1/billing_portal/sessions", route_class=ApiRoute, tags=["billing_portal"], dependencies=GUARDS
)


def _load_configuration(session: Session, configuration_id: str) -> dict[str, Any] | None:
    found = session.scalar(select(PortalConfiguration).where(PortalConfiguration.id == configuration_id))
    return serialize_configuration(found) if found else None


register_loader("bpc", _load_configuration)
register_expandable("billing_portal.session", "configuration")


def _respond(
    session: Session, runtime: Runtime, configuration: PortalConfiguration, paths: list[str]
) -> Response:
    body = serialize_configuration(configuration, base_url=runtime.settings.public_base_url)
    return json_response(expand(session, body, paths))


@configurations_router.post("")
def create_configuration(
    session: SessionDep,
    runtime: RuntimeDep,
    paths: ExpandDep,
    params: Annotated[ConfigurationCreate, Depends(params_of(ConfigurationCreate))],
) -> Response:
    configuration = config_service.create_configuration(session, params, now=runtime.clock.now())
    return _respond(session, runtime, configuration, paths)


@configurations_router.get("")
def list_configurations(
    session: SessionDep,
    runtime: RuntimeDep,
    paths: ExpandDep,
    params: Annotated[ConfigurationList, Depends(params_of(ConfigurationList))],
) -> Response:
    page = paginate(
        session,
        config_service.configuration_query(params),
        PortalConfiguration,
        params,
        url=CONFIGURATIONS,
        serialize=lambda found: serialize_configuration(found, base_url=runtime.settings.public_base_url),
    )
    return json_response(expand(session, page, paths))


@configurations_router.get("/{configuration_id}")
def retrieve_configuration(
    session: SessionDep, runtime: RuntimeDep, configuration_id: str, paths: ExpandDep
) -> Response:
    return _respond(session, runtime, config_service.get_configuration(session, configuration_id), paths)


@configurations_router.post("/{configuration_id}")
def update_configuration(
    session: SessionDep,
    runtime: RuntimeDep,
    configuration_id: str,
    paths: ExpandDep,
    params: Annotated[ConfigurationUpdate, Depends(params_of(ConfigurationUpdate))],
) -> Response:
    configuration = config_service.update_configuration(
        session, configuration_id, params, now=runtime.clock.now()
    )
    return _respond(session, runtime, configuration, paths)


@sessions_router.post("")
def create_session(
    session: SessionDep,
    runtime: RuntimeDep,
    paths: ExpandDep,
    params: Annotated[SessionCreate, Depends(params_of(SessionCreate))],
) -> Response:
    portal_session, url = create_portal_session(
        session, params, real_now=runtime.clock.now(), base_url=runtime.settings.public_base_url
    )
    return json_response(expand(session, serialize_session(portal_session, url=url), paths))
