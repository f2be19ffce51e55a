"""Billing records: plans, Stripe customers and subscriptions, webhook events, and the
membership ledger (periods per user, each with its source and reference).

Money is an integer number of minor units with an uppercase ISO currency code.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from ncm.accounts.models import User


class Interval(StrEnum):
    MONTH = "MONTH"
    YEAR = "YEAR"


class PeriodSource(StrEnum):
    PAID = "PAID"  # a paid Stripe invoice (reference: the invoice id)
    TRIAL = "TRIAL"  # a subscription's trial (reference: trial:<subscription id>)
    GRACE = "GRACE"  # a failed renewal's grace window (reference: grace:<invoice id>)
    COMPENSATION = "COMPENSATION"  # a compensation grant (reference: the grant id)
    ADMIN_GRANT = "ADMIN_GRANT"  # an operator's manual grant (reference: admin:<uuid>)


class EventStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSED = "PROCESSED"
    IGNORED = "IGNORED"  # a type we do not act on
    FAILED = "FAILED"  # see last_error; `ncm billing events replay` retries it
    WAITING = "WAITING"  # its Stripe customer is not linked to a user yet (see waiting_on)


class ClaimAction(StrEnum):
    START = "START"
    CHANGE = "CHANGE"


class ClaimState(StrEnum):
    PENDING = "PENDING"  # Stripe calls in flight; other starts/changes of the user wait
    DONE = "DONE"


class CheckoutState(StrEnum):
    OPEN = "OPEN"  # the user may still pay on Stripe's page
    COMPLETE = "COMPLETE"
    EXPIRED = "EXPIRED"  # expired by ncm (another start succeeded) or by Stripe (24 h)


class DuplicateState(StrEnum):
    CANCELED = "CANCELED"  # ended at once; it had charged nothing (a trial, an unpaid invoice)
    REFUNDED = "REFUNDED"  # ended at once and its paid invoice refunded in full


class Plan(Model):
    id = fields.BigIntField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)  # vip_monthly
    name = fields.CharField(max_length=200)
    tier = fields.CharField(max_length=16, default="VIP")
    interval = fields.CharEnumField(Interval, max_length=8)
    amount = fields.BigIntField()  # minor units per interval
    currency = fields.CharField(max_length=3)
    active = fields.BooleanField(default=True)
    stripe_product_id = fields.CharField(max_length=255, null=True)
    stripe_plan_id = fields.CharField(max_length=255, null=True, unique=True)
    synced_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "billing_plans"


class PlanPrice(Model):
    # Every Stripe plan (price) a plan has had: a repriced plan keeps its old subscribers.

    id = fields.BigIntField(primary_key=True)
    plan: fields.ForeignKeyRelation[Plan] = fields.ForeignKeyField(
        "ncm.Plan", related_name="prices", on_delete=fields.CASCADE
    )
    stripe_plan_id = fields.CharField(max_length=255, unique=True)
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    interval = fields.CharEnumField(Interval, max_length=8)
    created_at = fields.DatetimeField(auto_now_add=True)

    plan_id: int

    class Meta:
        table = "billing_plan_prices"


class Customer(Model):
    # The Stripe customer of a user (created on first use).

    id = fields.BigIntField(primary_key=True)
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "ncm.User", related_name="billing_customer", on_delete=fields.CASCADE
    )
    stripe_id = fields.CharField(max_length=255, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    user_id: int

    class Meta:
        table = "billing_customers"


# Stripe's statuses of a subscription that still charges or may charge again.
LIVE = frozenset({"active", "trialing", "past_due", "unpaid"})


class Subscription(Model):
    # Local mirror of a Stripe subscription, always written from a fresh read of it.

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="billing_subscriptions", on_delete=fields.CASCADE
    )
    stripe_id = fields.CharField(max_length=255, unique=True)
    stripe_plan_id = fields.CharField(max_length=255, default="")
    status = fields.CharField(max_length=32)  # Stripe's: active, past_due, canceled, ...
    current_period_start = fields.DatetimeField(null=True)
    current_period_end = fields.DatetimeField(null=True)
    cancel_at_period_end = fields.BooleanField(default=False)
    canceled_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    trial_start = fields.DatetimeField(null=True)
    trial_end = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    user_id: int

    class Meta:
        table = "billing_subscriptions"
        indexes = [Index(fields=["user_id", "id"])]


class SubscriptionClaim(Model):
    # One row per user: the start or plan change in progress (PENDING) or the last one
    # (DONE). Taking it is a compare-and-set under the user's lock, so two concurrent starts
    # cannot both reach Stripe: at most one live subscription per user.

    id = fields.BigIntField(primary_key=True)
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "ncm.User", related_name="billing_claim", on_delete=fields.CASCADE
    )
    action = fields.CharEnumField(ClaimAction, max_length=8)
    key = fields.CharField(max_length=255)
    state = fields.CharEnumField(ClaimState, max_length=8)
    subscription_ref = fields.CharField(max_length=255, null=True)
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)

    user_id: int

    class Meta:
        table = "billing_subscription_claims"


class CheckoutSession(Model):
    # A hosted Checkout session ncm created (or saw completed): while OPEN the user can still
    # pay on Stripe's page, so a start that succeeds elsewhere expires it.

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="billing_checkouts", on_delete=fields.CASCADE
    )
    stripe_id = fields.CharField(max_length=255, unique=True)
    stripe_plan_id = fields.CharField(max_length=255, default="")
    state = fields.CharEnumField(CheckoutState, max_length=8, default=CheckoutState.OPEN)
    subscription_ref = fields.CharField(max_length=255, null=True)  # COMPLETE: what it made
    created_at = fields.DatetimeField(auto_now_add=True)
    closed_at = fields.DatetimeField(null=True)

    user_id: int

    class Meta:
        table = "billing_checkout_sessions"
        indexes = [Index(fields=["user_id", "state"])]


class DuplicateSubscription(Model):
    # A user's second live subscription (two hosted checkouts completed, or one completed
    # after a direct start): the newer is cancelled at once in Stripe and its paid invoice
    # refunded in full. One row per duplicate, so a redelivered or reordered event finds it
    # resolved and never refunds twice.

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="billing_duplicates", on_delete=fields.CASCADE
    )
    subscription_ref = fields.CharField(max_length=255, unique=True)  # the one ended
    kept_ref = fields.CharField(max_length=255)  # the older one, kept
    state = fields.CharEnumField(DuplicateState, max_length=8)
    invoice_ref = fields.CharField(max_length=255, null=True)
    payment_ref = fields.CharField(max_length=255, null=True)  # payment intent (or charge)
    refund_ref = fields.CharField(max_length=255, null=True)
    amount_refunded = fields.BigIntField(default=0)
    currency = fields.CharField(max_length=3, default="")
    resolved_at = fields.DatetimeField()

    user_id: int

    class Meta:
        table = "billing_duplicate_subscriptions"
        indexes = [Index(fields=["resolved_at"])]


class MembershipPeriod(Model):
    # One stretch of membership. (reference, user) is unique, so every writer (an invoice,
    # a trial, a grant for every user at once) is an idempotent insert.

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="membership_periods", on_delete=fields.CASCADE
    )
    source = fields.CharEnumField(PeriodSource, max_length=16)
    reference = fields.CharField(max_length=255)
    tier = fields.CharField(max_length=16, default="VIP")
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    amount = fields.BigIntField(default=0)  # paid, minor units (after discount, with tax)
    currency = fields.CharField(max_length=3, default="")
    discount = fields.BigIntField(default=0)
    tax = fields.BigIntField(default=0)
    refunded = fields.BigIntField(default=0)
    revoked_at = fields.DatetimeField(null=True)  # fully refunded: no longer entitles
    subscription_ref = fields.CharField(max_length=255, null=True)
    # PAID: the Stripe plan (price) the invoice paid for, as it was then (a later plan
    # change of the subscription does not move earlier periods to the new plan)
    plan_ref = fields.CharField(max_length=255, null=True)
    charge_ref = fields.CharField(max_length=255, null=True)
    note = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    user_id: int

    class Meta:
        table = "membership_periods"
        unique_together = (("reference", "user"),)
        # and ``membership_periods_charge_ref_idx`` on charge_ref WHERE charge_ref IS NOT NULL
        # (migrations/0017_compensation_speed.py): gifts and trials, most rows of a large
        # campaign, have no charge and add nothing to it
        indexes = [Index(fields=["user_id", "ends_at"])]


class ChargeRefund(Model):
    # What Stripe says was refunded of one charge: cumulative, it only ever grows.

    id = fields.BigIntField(primary_key=True)
    charge_ref = fields.CharField(max_length=255, unique=True)
    invoice_ref = fields.CharField(max_length=255, null=True)
    amount_refunded = fields.BigIntField()
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    fully_refunded = fields.BooleanField(default=False)
    refunded_at = fields.DatetimeField()

    class Meta:
        table = "billing_charge_refunds"
        indexes = [Index(fields=["invoice_ref"])]


class StripeEvent(Model):
    # A webhook event as received: the unique Stripe id makes a redelivery a no-op.

    id = fields.BigIntField(primary_key=True)
    stripe_id = fields.CharField(max_length=255, unique=True)
    type = fields.CharField(max_length=100)
    created = fields.DatetimeField()  # Stripe's own timestamp for the event
    payload = fields.TextField()
    status = fields.CharEnumField(EventStatus, max_length=10, default=EventStatus.PENDING)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(default="")
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)
    waiting_on = fields.CharField(max_length=255, null=True)  # WAITING: the Stripe customer

    class Meta:
        table = "billing_stripe_events"
        indexes = [
            Index(fields=["status", "id"]),
            Index(fields=["created", "id"]),
            Index(fields=["waiting_on"]),
        ]
