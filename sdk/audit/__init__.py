"""Whole conversations: ``sdk.audit`` (call model, call-level checks, score card, readers, report)."""
