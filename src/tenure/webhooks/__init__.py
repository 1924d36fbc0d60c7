"""Webhook endpoints and the signed, retried, crash-safe delivery of events to them."""
