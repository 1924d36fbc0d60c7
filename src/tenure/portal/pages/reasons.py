"""The reasons a customer can pick: the configured standard ones (exact labels) and custom ones."""

from __future__ import annotations

from dataclasses import dataclass

from tenure.portal.pages.visit import PortalVisit
from tenure.retention.reasons import LABELS, STANDARD_REASONS, label


@dataclass(frozen=True)
class ReasonOption:
    code: str
    feedback: str  # the standard code recorded in cancellation_details.feedback
    label: str


def reason_options(visit: PortalVisit) -> list[ReasonOption]:
    settings = (visit.features.get("subscription_cancel") or {}).get("cancellation_reason") or {}
    configured = settings.get("options") or list(STANDARD_REASONS)
    options = [
        ReasonOption(code=code, feedback=code, label=label(code, visit.locale))
        for code in configured
        if code in LABELS and code != "other"
    ]
    for custom in visit.extensions.get("custom_reasons") or []:
        if not custom.get("active", True):
            continue
        labels = custom.get("labels") or {}
        options.append(
            ReasonOption(
                code=str(custom["code"]),
                feedback=str(custom["feedback"]),
                label=str(labels.get(visit.locale) or labels.get("en") or custom["code"]),
            )
        )
    if "other" in configured:
        # "Other" comes last, where customers look for it.
        options.append(ReasonOption(code="other", feedback="other", label=label("other", visit.locale)))
    return options
