"""`Idempotency-Key`: the first response to a POST is stored with the change it made and replayed for 24 h.

As on Stripe, a key belongs to the account, not to the API key that sent it (Tenure is one account):
a retry after the key was rolled replays. It stands for one request, compared by its parsed parameters.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tenure.db.base import Base, PkType

MAX_KEY_LENGTH = 255


class IdempotencyRecord(Base):
    """The first response to a POST with an `Idempotency-Key`, one per key for the whole account.

    `api_key_id` only records which key made the request. `body` is sealed with
    `Runtime.response_box`: a response may carry a secret (a portal URL).
    """

    __tablename__ = "idempotency_records"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    api_key_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created: Mapped[int] = mapped_column(BigInteger, index=True)

    __table_args__ = (UniqueConstraint("key", name="uq_idempotency_records_key"),)


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    """What a retry must repeat: the endpoint and its parsed parameters, whatever their order or encoding.

    `params` is the query string and body already parsed (`tenure.api.forms.request_params`): fields
    reordered, `+` or `%20`, query string or body all give the same dict; sorting its keys makes
    the JSON canonical. Array order is kept, since it means something (`items[0]` is the first item).
    """
    canonical = json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def legacy_fingerprint(method: str, path: str, body: bytes) -> str:
    """The raw-body fingerprint of records stored before migration 0017, so their retries still replay.

    Needed for one TTL (24 h) after upgrading past 0017; remove with the next migration.
    """
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def find_record(session: Session, *, key: str, not_before: int) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.key == key, IdempotencyRecord.created >= not_before)
    )


def forget_expired(session: Session, *, key: str, not_before: int) -> None:
    """Free `key` if its record has expired, so that a new request may use it."""
    session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.key == key, IdempotencyRecord.created < not_before)
    )


def purge_expired(session: Session, *, not_before: int) -> None:
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created < not_before))
