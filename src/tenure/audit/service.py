"""Writing the audit log (in the caller's transaction: only `flush()`) and reading it back, filtered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from tenure.audit.models import ActorKind, AuditEntry
from tenure.ids import new_id
from tenure.keys.models import ApiKey
from tenure.staff.models import StaffUser

PAGE_SIZE = 50
MAX_FIELDS = 60  # a summary lists at most this many changed fields
# Where the dashboard's visit leaves the client address for `record` (see `bind_address`).
ADDRESS_INFO = "tenure.audit.address"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str
    name: str


def staff_actor(staff: StaffUser) -> Actor:
    return Actor(ActorKind.STAFF, staff.id, staff.email)


def api_key_actor(key: ApiKey) -> Actor:
    """The key's id, name and redacted form (`sk_test_…abcd`): never its secret."""
    return Actor(ActorKind.API_KEY, key.id, f"{key.name} ({key.redacted})" if key.name else key.redacted)


def bind_address(session: Session, address: str | None) -> None:
    """Remember the client address of the request that owns `session`, for the entries it records.

    The dashboard's actions receive the staff account, not the request: the address travels with
    the unit of work (`Session.info`) rather than through every action's signature."""
    session.info[ADDRESS_INFO] = address


def record(
    session: Session,
    actor: Actor,
    *,
    action: str,
    object_id: str | None,
    now: int,
    summary: Mapping[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Add an entry to the caller's transaction (committed, or rolled back, with the action)."""
    entry = AuditEntry(
        id=new_id("audit"),
        created=now,
        actor_kind=actor.kind,
        actor_id=actor.id[:64],
        actor_name=actor.name[:320],
        action=action[:200],
        object_id=object_id[:64] if object_id else None,
        summary=dict(summary or {}),
        ip=(ip or session.info.get(ADDRESS_INFO) or None),
    )
    session.add(entry)
    session.flush()
    return entry


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any], *, prefix: str = "") -> list[str]:
    """The dotted paths of the leaves that differ between two JSON-like objects (names only, no values)."""
    changed: list[str] = []
    for name in sorted(set(before) | set(after), key=str):
        old, new = before.get(name), after.get(name)
        path = f"{prefix}{name}"
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changed.extend(changed_fields(old, new, prefix=f"{path}."))
        elif old != new:
            changed.append(path)
    return changed[:MAX_FIELDS]


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None  # an actor's id, or part of its email / key name (any case)
    object_id: str | None = None  # exact
    before: int | None = None  # the `pk` to continue after (older entries), for the next page

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> AuditFilters:
        """Lenient: what makes no sense is ignored rather than refused."""
        before = (query.get("before") or "").strip()
        return cls(
            actor=(query.get("actor") or "").strip()[:320] or None,
            object_id=(query.get("object") or "").strip()[:64] or None,
            before=int(before) if before.isdigit() and len(before) < 19 else None,
        )


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def entries_query(filters: AuditFilters) -> Select[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.pk.desc())
    if filters.actor:
        stmt = stmt.where(
            or_(
                AuditEntry.actor_id == filters.actor,
                func.lower(AuditEntry.actor_name).like(f"%{_escaped(filters.actor.lower())}%", escape="\\"),
            )
        )
    if filters.object_id:
        stmt = stmt.where(AuditEntry.object_id == filters.object_id)
    if filters.before is not None:
        stmt = stmt.where(AuditEntry.pk < filters.before)
    return stmt


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before: int | None  # `before` for the next (older) page, None on the last one


def list_entries(session: Session, filters: AuditFilters, *, limit: int = PAGE_SIZE) -> AuditPage:
    """Newest first, `limit` at a time (keyset pagination: stable while new entries arrive)."""
    found = list(session.scalars(entries_query(filters).limit(limit + 1)))
    shown = found[:limit]
    return AuditPage(entries=shown, next_before=shown[-1].pk if len(found) > limit else None)
