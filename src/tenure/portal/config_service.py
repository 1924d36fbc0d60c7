"""Portal configurations: create, update, list, and the configuration a portal session uses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, ResourceMissing
from tenure.api.metadata import apply_metadata
from tenure.events.service import record_event
from tenure.ids import new_id
from tenure.portal.config_extensions import merge_extensions
from tenure.portal.config_features import check_features, merge_given
from tenure.portal.config_schemas import (
    ConfigurationCreate,
    ConfigurationFields,
    ConfigurationList,
    ConfigurationUpdate,
    serialize_configuration,
)
from tenure.portal.models import (
    PortalConfiguration,
    default_business_profile,
    default_features,
    default_tenure,
)

KIND = "billing portal configuration"


def get_configuration(
    session: Session, configuration_id: str, *, param: str | None = "id", for_update: bool = False
) -> PortalConfiguration:
    """By id: a 404 for the id in the URL (`param="id"`), a 400 naming `param` otherwise."""
    stmt = select(PortalConfiguration).where(PortalConfiguration.id == configuration_id)
    if for_update:
        stmt = stmt.with_for_update()
    configuration = session.scalar(stmt)
    if configuration is None:
        raise ResourceMissing(KIND, configuration_id, param=param)
    return configuration


def effective_configuration(
    session: Session, configuration_id: str | None, *, now: int
) -> PortalConfiguration:
    """The configuration named, else the default one, created with every default if there is none."""
    if configuration_id is not None:
        return get_configuration(session, configuration_id, param="configuration")
    found = _default(session)
    if found is not None:
        return found
    configuration = _new(now)
    configuration.is_default = True
    if not _insert(session, configuration):  # another request created the default first
        winner = _default(session)
        assert winner is not None
        return winner
    _record(session, "billing_portal.configuration.created", configuration, now=now)
    return configuration


def create_configuration(session: Session, params: ConfigurationCreate, *, now: int) -> PortalConfiguration:
    """A new configuration; the first one (or one created with `is_default=true`) is the default."""
    configuration = _new(now)
    _apply(session, configuration, params, now=now)
    configuration.metadata_ = apply_metadata(None, params.metadata)
    wants_default = params.is_default is True
    if wants_default:
        _undefault_others(session, configuration, now=now)
    configuration.is_default = wants_default or _default(session) is None
    if not _insert(session, configuration):
        if wants_default:
            raise _default_race()
        configuration.is_default = False  # a default appeared concurrently: this one is not it
        session.add(configuration)
        session.flush()
    _record(session, "billing_portal.configuration.created", configuration, now=now)
    return configuration


def update_configuration(
    session: Session, configuration_id: str, params: ConfigurationUpdate, *, now: int
) -> PortalConfiguration:
    """Apply the given fields; `features` and the `tenure_*` hashes merge into the stored ones."""
    configuration = get_configuration(session, configuration_id, for_update=True)
    before = serialize_configuration(configuration)
    given = params.model_fields_set
    active = configuration.active if params.active is None else params.active
    if configuration.is_default and not active:
        raise InvalidRequest("The default configuration cannot be deactivated.", param="active")
    if "is_default" in given and not params.is_default and configuration.is_default:
        raise InvalidRequest(
            "A configuration stops being the default only when another one is made the default.",
            param="is_default",
        )
    becomes_default = params.is_default is True and not configuration.is_default
    if becomes_default and not active:
        raise InvalidRequest("An inactive configuration cannot be the default.", param="is_default")
    _apply(session, configuration, params, now=now)
    if "metadata" in given:
        configuration.metadata_ = apply_metadata(configuration.metadata_, params.metadata)
    configuration.active = active
    if becomes_default:
        _undefault_others(session, configuration, now=now)
        configuration.is_default = True
    try:
        session.flush()
    except IntegrityError:  # another configuration was made the default concurrently
        raise _default_race() from None
    if serialize_configuration(configuration) != before:
        configuration.updated = now
        session.flush()
        _record(session, "billing_portal.configuration.updated", configuration, now=now, previous=before)
    return configuration


def configuration_query(params: ConfigurationList) -> Select[Any]:
    stmt = select(PortalConfiguration)
    if params.active is not None:
        stmt = stmt.where(PortalConfiguration.active.is_(params.active))
    if params.is_default is not None:
        stmt = stmt.where(PortalConfiguration.is_default.is_(params.is_default))
    return stmt


# --- helpers -------------------------------------------------------------------------------------


def _new(now: int) -> PortalConfiguration:
    return PortalConfiguration(
        id=new_id("bpc"),
        created=now,
        updated=now,
        active=True,
        is_default=False,
        business_profile=default_business_profile(),
        login_page_enabled=False,
        features=default_features(),
        tenure=default_tenure(),
        metadata_={},
    )


def _apply(
    session: Session, configuration: PortalConfiguration, params: ConfigurationFields, *, now: int
) -> None:
    """Check every given field first, then set them all (a refused request changes nothing)."""
    given = params.model_fields_set
    features = configuration.features
    if "features" in given:
        features = check_features(
            session,
            merge_given(configuration.features, params.features, defaults=default_features())
            if params.features is not None
            else default_features(),
        )
    profile = configuration.business_profile
    if "business_profile" in given:
        profile = (
            merge_given(profile, params.business_profile, defaults=default_business_profile())
            if params.business_profile is not None
            else default_business_profile()
        )
    tenure = merge_extensions(session, configuration.tenure, params, now=now)
    configuration.features = features
    configuration.business_profile = profile
    configuration.tenure = tenure
    if "name" in given:
        configuration.name = params.name
    if "default_return_url" in given:
        configuration.default_return_url = params.default_return_url
    if "login_page" in given:
        configuration.login_page_enabled = bool(params.login_page and params.login_page.enabled)


def _default(session: Session) -> PortalConfiguration | None:
    return session.scalar(select(PortalConfiguration).where(PortalConfiguration.is_default.is_(True)))


def _undefault_others(session: Session, configuration: PortalConfiguration, *, now: int) -> None:
    """Exactly one default: the previous one stops being it (and says so in an event)."""
    stmt = (
        select(PortalConfiguration)
        .where(PortalConfiguration.is_default.is_(True), PortalConfiguration.id != configuration.id)
        .with_for_update()
    )
    for previous in session.scalars(stmt).all():
        before = serialize_configuration(previous)
        previous.is_default = False
        previous.updated = now
        session.flush()
        _record(session, "billing_portal.configuration.updated", previous, now=now, previous=before)


def _insert(session: Session, configuration: PortalConfiguration) -> bool:
    """Add and flush in a savepoint; False when the one-default index refused it."""
    try:
        with session.begin_nested():
            session.add(configuration)
            session.flush()
    except IntegrityError:
        return False
    return True


def _default_race() -> InvalidRequest:
    return InvalidRequest(
        "Another configuration was made the default at the same time: retry the request.",
        param="is_default",
    )


def _record(
    session: Session,
    event_type: str,
    configuration: PortalConfiguration,
    *,
    now: int,
    previous: dict[str, Any] | None = None,
) -> None:
    record_event(
        session, type=event_type, obj=serialize_configuration(configuration), now=now, previous=previous
    )
