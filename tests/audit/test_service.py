"""The audit log's plain rules: which fields changed, and the page's lenient filters."""

from __future__ import annotations

from tenure.audit.service import MAX_FIELDS, AuditFilters, changed_fields


def test_changed_fields_names_the_leaves_that_differ() -> None:
    before = {"name": "Main", "features": {"cancel": {"mode": "at_period_end", "on": True}}, "texts": {}}
    after = {
        "name": "Main",
        "features": {"cancel": {"mode": "immediately", "on": True}},
        "texts": {"en": "x"},
    }
    assert changed_fields(before, after) == ["features.cancel.mode", "texts.en"]
    assert changed_fields(after, after) == []
    # A value that becomes a hash (or stops being one) is one change, named where it happened.
    assert changed_fields({"a": None}, {"a": {"b": 1}}) == ["a"]
    many = {f"k{n:03}": n for n in range(200)}
    assert len(changed_fields({}, many)) == MAX_FIELDS


def test_filters_ignore_what_makes_no_sense() -> None:
    assert AuditFilters.parse({"actor": "  ops@example.com ", "object": "sub_1", "before": "42"}) == (
        AuditFilters(actor="ops@example.com", object_id="sub_1", before=42)
    )
    assert AuditFilters.parse({"actor": " ", "before": "-3"}) == AuditFilters()
    assert AuditFilters.parse({"before": "9" * 40}).before is None
