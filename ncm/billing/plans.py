"""Plans live in the database; ``sync`` makes Stripe match them.

Stripe plan amounts are immutable, so a plan's Stripe id embeds its price
(``ncm_vip_monthly_1500_cny``): a new price creates a new Stripe plan and deactivates the
old one (existing subscribers keep their price, as Stripe does). Every Stripe plan a plan
has had is kept as a price version (``PlanPrice``), so a subscriber on an old price still
belongs to the plan. Ids are deterministic, so a sync is idempotent and a half-finished one
completes on the next run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from ncm.billing.entitlement import utcnow
from ncm.billing.errors import BillingErrorCode
from ncm.billing.models import Interval, Plan, PlanPrice
from ncm.billing.stripe import gateway, payments_configured
from ncm.config import get_settings
from ncm.errors import InvalidInput, NotFound

DEFAULT_PLANS = [
    {
        "code": "vip_monthly",
        "name": "VIP monthly",
        "interval": Interval.MONTH,
        "amount": 1500,
        "currency": "CNY",
    },
    {
        "code": "vip_yearly",
        "name": "VIP yearly",
        "interval": Interval.YEAR,
        "amount": 15800,
        "currency": "CNY",
    },
]

TIER_NAMES = {"VIP": "NCM VIP membership"}
PLAN_CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # part of the Stripe plan id
STRIPE_MAX_AMOUNT = 99_999_999  # Stripe refuses a larger amount (minor units, 8 digits)


@dataclass(frozen=True)
class SyncChange:
    plan: str
    action: str  # created, unchanged, product-created, product-renamed, repriced
    stripe_plan_id: str


async def ensure_default_plans() -> list[Plan]:
    """Insert the default plans if missing (never overwrites an operator's edit)."""
    for spec in DEFAULT_PLANS:
        await Plan.get_or_create(code=spec["code"], defaults={k: v for k, v in spec.items()})
    return await list_plans()


async def list_plans(*, active_only: bool = False) -> list[Plan]:
    query = Plan.all()
    if active_only:
        query = query.filter(active=True)
    return await query.order_by("amount", "id")


async def plans_on_sale() -> list[Plan]:
    """The plans a client may show, cheapest first: the active ones synced to Stripe at
    their current price. In development without Stripe (no ``NCM_STRIPE_API_KEY``) every
    active plan, so the demo shows what it would sell (a start then says payments are not
    configured)."""
    active = await list_plans(active_only=True)
    settings = get_settings()
    if not payments_configured(settings) and not settings.production:
        return active
    return [p for p in active if p.stripe_plan_id and p.stripe_plan_id == stripe_plan_id(p)]


async def get_plan(code_or_id: str | int) -> Plan:
    text = str(code_or_id)
    plan = await (Plan.get_or_none(id=int(text)) if text.isdigit() else Plan.get_or_none(code=text))
    if plan is None:
        raise NotFound("No such plan.", field="planId")
    return plan


async def set_plan(
    code: str, *, name: str, interval: Interval, amount: int, currency: str, tier: str = "VIP"
) -> Plan:
    """Create or edit a plan in the database (``sync`` then pushes it to Stripe)."""
    if not PLAN_CODE.fullmatch(code):
        raise InvalidInput(
            "A plan code is 1-40 of a-z, 0-9, _ and -, starting with a letter or digit.",
            field="code",
        )
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("A plan needs a name of at most 100 characters.", field="name")
    currency = currency.upper()
    if amount <= 0:
        raise InvalidInput("The amount is in minor units and must be positive.", field="amount")
    if amount > STRIPE_MAX_AMOUNT:
        raise InvalidInput(
            f"The amount {amount} is past Stripe's maximum of {STRIPE_MAX_AMOUNT} minor units.",
            field="amount",
            code=BillingErrorCode.AMOUNT_TOO_LARGE,
        )
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput("The currency is an ISO 4217 code like CNY.", field="currency")
    plan, _ = await Plan.update_or_create(
        code=code,
        defaults={
            "name": name,
            "interval": interval,
            "amount": amount,
            "currency": currency,
            "tier": tier,
        },
    )
    return plan


def stripe_plan_id(plan: Plan) -> str:
    return f"ncm_{plan.code}_{plan.amount}_{plan.currency.lower()}"


async def plan_for_stripe_id(
    stripe_plan_id: str | None, conn: BaseDBAsyncClient | None = None
) -> Plan | None:
    """The plan a Stripe plan (price) belongs to, current or an older price version."""
    if not stripe_plan_id:
        return None
    found = await Plan.filter(prices__stripe_plan_id=stripe_plan_id).using_db(conn).first()
    if found is not None:
        return found
    return await Plan.filter(stripe_plan_id=stripe_plan_id).using_db(conn).first()


async def plans_for_stripe_ids(stripe_plan_ids: list[str]) -> dict[str, Plan]:
    """``plan_for_stripe_id`` for many (two queries)."""
    ids = [i for i in dict.fromkeys(stripe_plan_ids) if i]
    if not ids:
        return {}
    prices = await PlanPrice.filter(stripe_plan_id__in=ids).values_list("stripe_plan_id", "plan_id")
    by_price = dict(prices)
    plans = await Plan.filter(id__in=list(set(by_price.values()))) if by_price else []
    by_id = {p.id: p for p in plans}
    found = {sid: by_id[pid] for sid, pid in by_price.items() if pid in by_id}
    missing = [i for i in ids if i not in found]
    if missing:
        for plan in await Plan.filter(stripe_plan_id__in=missing):
            found[str(plan.stripe_plan_id)] = plan
    return found


async def _record_price(plan: Plan, stripe_id: str) -> None:
    await PlanPrice.get_or_create(
        stripe_plan_id=stripe_id,
        defaults={
            "plan_id": plan.id,
            "amount": plan.amount,
            "currency": plan.currency,
            "interval": plan.interval,
        },
    )


def _local_change(plan: Plan) -> SyncChange:
    """What a sync would do to a plan, judged from the database alone (no Stripe to ask)."""
    wanted = stripe_plan_id(plan)
    if plan.stripe_plan_id == wanted:
        return SyncChange(plan.code, "unchanged", wanted)
    return SyncChange(plan.code, "repriced" if plan.stripe_plan_id else "created", wanted)


async def sync(*, dry_run: bool = False) -> list[SyncChange]:
    """Create or update the Stripe product and plan of every plan; report what changed.

    Without Stripe (no ``NCM_STRIPE_API_KEY``) a dry run says what the database alone
    tells (every plan never synced would be created); a real sync raises
    ``BillingNotConfigured``, which names the setting."""
    if dry_run and not payments_configured():
        return [_local_change(plan) for plan in await list_plans()]
    stripe = gateway()
    changes: list[SyncChange] = []
    products_seen: set[str] = set()
    for plan in await list_plans():
        product_id = f"ncm_{plan.tier.lower()}"
        product_name = TIER_NAMES.get(plan.tier, f"NCM {plan.tier} membership")
        wanted = stripe_plan_id(plan)
        if product_id not in products_seen:
            products_seen.add(product_id)
            product = await stripe.retrieve_product(product_id)
            if product is None:
                changes.append(SyncChange(plan.code, "product-created", product_id))
                if not dry_run:
                    await stripe.create_product(product_id, product_name, f"product:{product_id}")
            elif product.get("name") != product_name:
                changes.append(SyncChange(plan.code, "product-renamed", product_id))
                if not dry_run:
                    await stripe.update_product(
                        product_id, product_name, f"product:{product_id}:{product_name}"
                    )
        remote = await stripe.retrieve_plan(wanted)
        if remote is None:
            action = (
                "repriced" if plan.stripe_plan_id and plan.stripe_plan_id != wanted else ("created")
            )
            changes.append(SyncChange(plan.code, action, wanted))
            if not dry_run:
                await stripe.create_plan(
                    wanted,
                    product=product_id,
                    amount=plan.amount,
                    currency=plan.currency,
                    interval=plan.interval.value.lower(),
                    nickname=plan.name,
                    key=f"plan:{wanted}",
                )
        else:
            changes.append(SyncChange(plan.code, "unchanged", wanted))
        old = plan.stripe_plan_id
        if not dry_run:
            await _record_price(plan, wanted)
        if not dry_run and old != wanted:
            if old:
                await stripe.deactivate_plan(old, f"deactivate:{old}")
            plan.stripe_plan_id = wanted
            plan.stripe_product_id = product_id
        if not dry_run:
            plan.synced_at = utcnow()
            await plan.save()
    return changes
