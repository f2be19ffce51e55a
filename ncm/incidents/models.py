"""Tortoise models of the incidents domain: incidents, their public updates, and the users
an incident affected (flushed from Redis by a job, see ``ncm.incidents.affected``)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Component(StrEnum):
    PLAYBACK = "PLAYBACK"
    API = "API"
    PAYMENTS = "PAYMENTS"


class IncidentStatus(StrEnum):
    DETECTED = "DETECTED"  # opened by the playback breaker: an operator confirms or merges it
    OPEN = "OPEN"  # opened or confirmed by an operator
    RESOLVED = "RESOLVED"
    MERGED = "MERGED"  # folded into another incident (``merged_into_id``)


class Incident(Model):
    id = fields.BigIntField(primary_key=True)
    title = fields.CharField(max_length=200)
    component = fields.CharEnumField(Component, max_length=16)
    status = fields.CharEnumField(IncidentStatus, max_length=16, default=IncidentStatus.OPEN)
    started_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    # the detector's key for an automatically opened incident (its affected users' Redis set)
    detector_key = fields.CharField(max_length=64, null=True, unique=True)
    merged_into_id = fields.BigIntField(null=True)
    opened_by = fields.CharField(max_length=200, default="")
    closed_by = fields.CharField(max_length=200, default="")
    affected_count = fields.BigIntField(default=0)  # kept by the flush job
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "incidents"
        indexes = [Index(fields=["status", "id"])]


class IncidentUpdate(Model):
    id = fields.BigIntField(primary_key=True)
    incident_id = fields.BigIntField()
    message = fields.CharField(max_length=2000)
    author = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "incident_updates"
        indexes = [Index(fields=["incident_id", "id"])]


class AffectedUser(Model):
    # A user who got a failed playback answer while the incident was open.
    id = fields.BigIntField(primary_key=True)
    incident_id = fields.BigIntField()
    user_id = fields.BigIntField()

    class Meta:
        table = "incident_affected_users"
        unique_together = (("incident_id", "user_id"),)
