"""The audit log: who changed what — operators in the dashboard and API keys on `/v1` — and from where."""
