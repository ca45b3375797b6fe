"""Outbound notifications: signed webhooks and Apprise, delivered off the repair path."""
