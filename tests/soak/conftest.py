"""The soak is not part of `make test`: it runs for minutes, only when asked.

    TENURE_SOAK=1 .venv/bin/pytest tests/soak -p no:cacheprovider -s

(`TENURE_SOAK_DB=sqlite` or `postgresql` runs one database; `TENURE_SOAK_ROUNDS` and
`TENURE_SOAK_SEED` change the number of rounds and the random kill moments.)
"""

from __future__ import annotations

import os

if os.environ.get("TENURE_SOAK") != "1":
    collect_ignore_glob = ["test_*.py"]
