"""Incidents, service status and who was affected by an outage."""
