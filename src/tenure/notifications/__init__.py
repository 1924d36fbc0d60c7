"""Emails to subscribers and the operator: queued in the outbox with their cause, sent by the worker."""
