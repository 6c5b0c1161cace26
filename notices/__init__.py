"""Escalation notices: the mail and webhook channels and their templates."""
