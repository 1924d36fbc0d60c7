"""Where the product specification lives: `../shared/spec` beside the repository (or
`TENURE_SPEC_DIR`). Tests read Stripe's fixtures and the reason labels from it, not from copies."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC_DIR = Path(os.environ.get("TENURE_SPEC_DIR") or REPO.parent / "shared" / "spec")
STRIPE_FIXTURES = SPEC_DIR / "stripe-fixtures"
