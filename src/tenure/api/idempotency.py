"""`Idempotency-Key`: the first response to a POST is stored with the change it made and replayed for 24 h."""

from __future__ import annotations

import hashlib

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tenure.db.base import Base, PkType

MAX_KEY_LENGTH = 255


class IdempotencyRecord(Base):
    """The first response to a POST with an `Idempotency-Key`.

    `body` is sealed with `Runtime.response_box`: a response may carry a secret (a portal URL).
    """

    __tablename__ = "idempotency_records"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    api_key_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created: Mapped[int] = mapped_column(BigInteger, index=True)

    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_records_key"),)


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def find_record(session: Session, *, api_key_id: str, key: str, not_before: int) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == api_key_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created >= not_before,
        )
    )


def purge_expired(session: Session, *, not_before: int) -> None:
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created < not_before))
