"""The customers' own words: comments left when canceling, filterable and searchable."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tenure.customers.models import Customer
from tenure.insights.models import CancellationRecord

PAGE_SIZE = 50


@dataclass(frozen=True)
class CommentFilter:
    start: int
    end: int
    feedback: str | None = None
    price: str | None = None
    locale: str | None = None
    search: str | None = None


def _escaped_like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def comment_query(chosen: CommentFilter) -> Select[CancellationRecord, str | None]:
    stmt = (
        select(CancellationRecord, Customer.email)
        .join(Customer, Customer.id == CancellationRecord.customer_id, isouter=True)
        .where(CancellationRecord.comment.is_not(None), CancellationRecord.comment != "")
        .where(CancellationRecord.canceled_at >= chosen.start, CancellationRecord.canceled_at < chosen.end)
    )
    if chosen.feedback:
        stmt = stmt.where(CancellationRecord.feedback == chosen.feedback)
    if chosen.price:
        stmt = stmt.where(CancellationRecord.price_id == chosen.price)
    if chosen.locale:
        stmt = stmt.where(CancellationRecord.locale == chosen.locale)
    if chosen.search:
        stmt = stmt.where(
            func.lower(CancellationRecord.comment).like(_escaped_like(chosen.search.lower()), escape="\\")
        )
    return stmt.order_by(CancellationRecord.canceled_at.desc(), CancellationRecord.pk.desc())


def comments(
    session: Session, chosen: CommentFilter, *, limit: int = PAGE_SIZE
) -> list[tuple[CancellationRecord, str | None]]:
    return [(row[0], row[1]) for row in session.execute(comment_query(chosen).limit(limit)).all()]
