"""The one module that talks to Stripe: a thin async wrapper over the Stripe SDK.

Everything returns plain dicts (``to_dict()``), so the rest of billing never sees SDK types
and a fake gateway is trivial. Every write takes an idempotency key. Every call has a
timeout; network failures, timeouts, 5xx and rate limits become
``PaymentProviderUnavailable``; a declined card becomes ``PaymentDeclined``.

Subscriptions and Checkout use the ``plan`` ids we create (in Stripe a Plan is also a Price
with the same id), which keeps the same calls working against localstripe in the tests.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import stripe

from ncm.billing.errors import (
    BillingNotConfigured,
    InvalidSignature,
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from ncm.config import Settings, get_settings
from ncm.errors import Conflict

log = logging.getLogger("ncm.billing.stripe")

TIMEOUT = httpx.Timeout(10.0, connect=3.0)
MAX_NETWORK_RETRIES = 2  # the SDK retries idempotently (same key) on network errors / 409 / 5xx
WEBHOOK_TOLERANCE = 300  # seconds, as Stripe's own libraries

Obj = dict[str, Any]


def _to_dict(obj: Any) -> Obj:
    if isinstance(obj, dict):
        return obj
    result: Obj = obj.to_dict()
    return result


class _HTTPXClient(stripe.HTTPXClient):
    """The SDK hands httpx the form-encoded body as ``data=`` (a string), which httpx 0.28
    deprecates; send it as ``content=``, byte for byte the same request."""

    def _get_request_args_kwargs(self, method: str, url: str, headers: Any, post_data: Any) -> Any:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        body = kwargs.pop("data", None)
        if body:
            kwargs["content"] = body
        return args, kwargs


class StripeGateway:
    """Stripe calls used by billing. One client per event loop (the HTTP pool is bound to
    the loop that opened it)."""

    def __init__(self, api_key: str, api_base: str | None = None) -> None:
        self.api_key = api_key
        self.api_base = api_base
        self._clients: dict[int, stripe.StripeClient] = {}

    @property
    def is_stripe(self) -> bool:
        """Stripe itself, not a Stripe-compatible server at ``NCM_STRIPE_API_BASE``
        (localstripe in the tests and benches), which lacks a few parameters."""
        return self.api_base is None

    @property
    def client(self) -> stripe.StripeClient:
        loop_id = id(asyncio.get_running_loop())
        found = self._clients.get(loop_id)
        if found is None:
            self._clients.clear()  # an old loop is gone (one-shot CLI runs, test sessions)
            found = stripe.StripeClient(
                self.api_key,
                base_addresses={"api": self.api_base} if self.api_base else None,
                http_client=_HTTPXClient(timeout=TIMEOUT),
                max_network_retries=MAX_NETWORK_RETRIES,
            )
            self._clients[loop_id] = found
        return found

    async def _call(self, what: str, request: Callable[[], Awaitable[Any]]) -> Obj:
        try:
            return _to_dict(await request())
        except stripe.CardError as exc:
            raise PaymentDeclined(
                exc.user_message or "Your card was declined.", decline_code=exc.code
            ) from exc
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            log.warning("stripe unavailable", extra={"call": what, "error": str(exc)})
            raise PaymentProviderUnavailable() from exc
        except stripe.APIError as exc:  # 5xx
            log.warning("stripe server error", extra={"call": what, "error": str(exc)})
            raise PaymentProviderUnavailable() from exc
        except stripe.IdempotencyError as exc:
            raise Conflict(
                "This request was already made with other parameters.", code="IDEMPOTENCY"
            ) from exc
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            log.error("stripe rejected our credentials", extra={"call": what})
            raise PaymentProviderUnavailable("Payments are misconfigured; try later.") from exc
        except stripe.StripeError as exc:
            raise PaymentProviderError(exc.user_message or str(exc)) from exc

    async def _maybe(self, what: str, request: Callable[[], Awaitable[Any]]) -> Obj | None:
        """A retrieve that answers ``None`` for a missing object."""
        try:
            return await self._call(what, request)
        except PaymentProviderError as exc:
            cause = exc.__cause__
            if isinstance(cause, stripe.InvalidRequestError) and cause.http_status == 404:
                return None
            raise

    @staticmethod
    def _key(key: str) -> stripe.RequestOptions:
        return {"idempotency_key": key}

    # products and plans ------------------------------------------------------------------

    async def retrieve_product(self, product_id: str) -> Obj | None:
        return await self._maybe(
            "products.retrieve", lambda: self.client.v1.products.retrieve_async(product_id)
        )

    async def create_product(self, product_id: str, name: str, key: str) -> Obj:
        return await self._call(
            "products.create",
            lambda: self.client.v1.products.create_async(
                {"id": product_id, "name": name}, self._key(key)
            ),
        )

    async def update_product(self, product_id: str, name: str, key: str) -> Obj:
        return await self._call(
            "products.update",
            lambda: self.client.v1.products.update_async(
                product_id, {"name": name}, self._key(key)
            ),
        )

    async def retrieve_plan(self, plan_id: str) -> Obj | None:
        return await self._maybe(
            "plans.retrieve", lambda: self.client.v1.plans.retrieve_async(plan_id)
        )

    async def create_plan(
        self,
        plan_id: str,
        *,
        product: str,
        amount: int,
        currency: str,
        interval: str,
        nickname: str,
        key: str,
    ) -> Obj:
        params: Any = {
            "id": plan_id,
            "product": product,
            "amount": amount,
            "currency": currency.lower(),
            "interval": interval,
            "nickname": nickname,
        }
        return await self._call(
            "plans.create", lambda: self.client.v1.plans.create_async(params, self._key(key))
        )

    async def deactivate_plan(self, plan_id: str, key: str) -> Obj:
        return await self._call(
            "plans.update",
            lambda: self.client.v1.plans.update_async(plan_id, {"active": False}, self._key(key)),
        )

    # customers and payment methods ------------------------------------------------------

    async def create_customer(self, *, user_id: int, email: str, name: str, key: str) -> Obj:
        params: Any = {"email": email, "name": name, "metadata": {"ncm_user_id": str(user_id)}}
        return await self._call(
            "customers.create",
            lambda: self.client.v1.customers.create_async(params, self._key(key)),
        )

    async def attach_payment_method(self, customer: str, payment_method: str, key: str) -> Obj:
        pm = await self._call(
            "payment_methods.attach",
            lambda: self.client.v1.payment_methods.attach_async(
                payment_method, {"customer": customer}, self._key(key)
            ),
        )
        params: Any = {"invoice_settings": {"default_payment_method": pm["id"]}}
        await self._call(
            "customers.update",
            lambda: self.client.v1.customers.update_async(
                customer, params, self._key(f"{key}:default")
            ),
        )
        return pm

    # subscriptions ----------------------------------------------------------------------

    async def create_subscription(
        self, *, customer: str, plan_id: str, user_id: int, key: str
    ) -> Obj:
        params: Any = {
            "customer": customer,
            "items": [{"plan": plan_id}],
            "metadata": {"ncm_user_id": str(user_id)},
            "expand": ["latest_invoice"],
        }
        return await self._call(
            "subscriptions.create",
            lambda: self.client.v1.subscriptions.create_async(params, self._key(key)),
        )

    async def retrieve_subscription(self, subscription_id: str) -> Obj | None:
        # The hot read of webhook processing: the answer's JSON as is (the same dict the
        # typed object would give, without building one: ~1.5 ms of CPU a read).
        path = f"/v1/subscriptions/{quote(subscription_id, safe='')}"
        return await self._maybe(
            "subscriptions.retrieve",
            lambda: self._json(self.client.raw_request_async("get", path)),
        )

    @staticmethod
    async def _json(response: Awaitable[Any]) -> Obj:
        data: Obj = (await response).data
        return data

    async def update_subscription(self, subscription_id: str, params: Obj, key: str) -> Obj:
        update: Any = params
        return await self._call(
            "subscriptions.update",
            lambda: self.client.v1.subscriptions.update_async(
                subscription_id, update, self._key(key)
            ),
        )

    async def retrieve_invoice(self, invoice_id: str) -> Obj | None:
        return await self._maybe(
            "invoices.retrieve", lambda: self.client.v1.invoices.retrieve_async(invoice_id)
        )

    async def cancel_subscription(self, subscription_id: str, key: str) -> Obj:
        """End a subscription now (not at period end)."""
        return await self._call(
            "subscriptions.cancel",
            lambda: self.client.v1.subscriptions.cancel_async(
                subscription_id, None, self._key(key)
            ),
        )

    async def cancel_subscription_now(self, subscription_id: str, key: str) -> Obj:
        """End a subscription now with no proration credit and no final invoice (a
        duplicate: what it charged is refunded in full instead, see ``refund_payment``)."""
        params: Any = {"prorate": False, "invoice_now": False} if self.is_stripe else None
        return await self._call(
            "subscriptions.cancel",
            lambda: self.client.v1.subscriptions.cancel_async(
                subscription_id, params, self._key(key)
            ),
        )

    async def refund_payment(
        self, payment: str, *, amount: int, metadata: dict[str, str], key: str
    ) -> Obj | None:
        """Refund ``amount`` of a payment (a payment intent ``pi_...`` or a charge
        ``ch_...``). ``None`` when Stripe says the charge is refunded already (a full refund
        cannot be made twice, whatever the idempotency key)."""
        field = "payment_intent" if payment.startswith("pi_") else "charge"
        params: Any = {field: payment, "amount": amount, "metadata": metadata}
        try:
            return await self._call(
                "refunds.create",
                lambda: self.client.v1.refunds.create_async(params, self._key(key)),
            )
        except PaymentProviderError as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, stripe.InvalidRequestError)
                and cause.code == "charge_already_refunded"
            ):
                return None
            raise

    async def retrieve_payment_intent(self, payment_intent_id: str) -> Obj | None:
        return await self._maybe(
            "payment_intents.retrieve",
            lambda: self.client.v1.payment_intents.retrieve_async(payment_intent_id),
        )

    async def list_subscriptions(
        self,
        *,
        customer: str | None = None,
        created_gte: int | None = None,
        created_lt: int | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[Obj]:
        """Every subscription (all statuses), of one customer or all, created in
        ``[created_gte, created_lt)`` when given, page by page."""
        params: dict[str, Any] = {"status": "all"}
        if customer:
            params["customer"] = customer
        async for item in self._paged(
            "subscriptions.list",
            self.client.v1.subscriptions.list_async,
            params,
            created_gte,
            created_lt,
            page_size,
        ):
            yield item

    async def list_invoices(
        self,
        *,
        created_gte: int | None = None,
        created_lt: int | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[Obj]:
        """Every invoice created in ``[created_gte, created_lt)``, page by page."""
        async for item in self._paged(
            "invoices.list",
            self.client.v1.invoices.list_async,
            {},
            created_gte,
            created_lt,
            page_size,
        ):
            yield item

    async def subscription_paid_invoices(self, subscription_id: str) -> list[Obj]:
        """Every paid invoice of a subscription, oldest first (``status`` is filtered here:
        a Stripe-compatible server may not filter it)."""
        found = [
            item
            async for item in self._paged(
                "invoices.list",
                self.client.v1.invoices.list_async,
                {"subscription": subscription_id},
                None,
                None,
                100,
            )
            if item.get("status") == "paid"
        ]
        return sorted(found, key=lambda i: (int(i.get("created") or 0), str(i.get("id"))))

    async def _paged(
        self,
        what: str,
        call: Callable[..., Awaitable[Any]],
        base: dict[str, Any],
        created_gte: int | None,
        created_lt: int | None,
        page_size: int,
    ) -> AsyncIterator[Obj]:
        """A Stripe list, page by page (``starting_after``). Stripe filters the creation
        window itself; a Stripe-compatible server (``NCM_STRIPE_API_BASE``, as in the tests)
        may not, so every item is checked against the window here too."""
        after: str | None = None
        window: dict[str, int] = {}
        if created_gte is not None:
            window["gte"] = created_gte
        if created_lt is not None:
            window["lt"] = created_lt
        while True:
            params: Any = {**base, "limit": max(1, min(page_size, 100))}
            if window and self.is_stripe:
                params["created"] = window
            if after:
                params["starting_after"] = after
            page = await self._call(what, functools.partial(call, params))
            data = page.get("data") or []
            for item in data:
                created = int(item.get("created") or 0)
                if created_gte is not None and created < created_gte:
                    continue
                if created_lt is not None and created >= created_lt:
                    continue
                yield item
            if not page.get("has_more") or not data:
                return
            after = data[-1]["id"]

    # hosted pages -----------------------------------------------------------------------

    async def create_checkout_session(
        self,
        *,
        customer: str,
        plan_id: str,
        user_id: int,
        success_url: str,
        cancel_url: str,
        key: str,
    ) -> Obj:
        params: Any = {
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": str(user_id),
            "line_items": [{"price": plan_id, "quantity": 1}],
            "subscription_data": {"metadata": {"ncm_user_id": str(user_id)}},
            "metadata": {"ncm_user_id": str(user_id)},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        return await self._call(
            "checkout.sessions.create",
            lambda: self.client.v1.checkout.sessions.create_async(params, self._key(key)),
        )

    async def expire_checkout_session(self, session_id: str, key: str) -> Obj | None:
        """Expire an open Checkout session, so it can no longer be paid. A session that is
        no longer open (completed, or expired already) is answered as Stripe has it now
        (look at its ``status``: ``complete`` means the user paid); ``None`` if unknown."""
        try:
            return await self._call(
                "checkout.sessions.expire",
                lambda: self.client.v1.checkout.sessions.expire_async(
                    session_id, None, self._key(key)
                ),
            )
        except PaymentProviderError as exc:
            cause = exc.__cause__
            if not isinstance(cause, stripe.InvalidRequestError):
                raise
            if cause.http_status == 404:
                return None
            return await self.retrieve_checkout_session(session_id)

    async def retrieve_checkout_session(self, session_id: str) -> Obj | None:
        return await self._maybe(
            "checkout.sessions.retrieve",
            lambda: self.client.v1.checkout.sessions.retrieve_async(session_id),
        )

    async def create_portal_session(self, *, customer: str, return_url: str) -> Obj:
        params: Any = {"customer": customer, "return_url": return_url}
        return await self._call(
            "billing_portal.sessions.create",
            lambda: self.client.v1.billing_portal.sessions.create_async(params),
        )


def verify_event(payload: bytes, sig_header: str | None, secret: str) -> Obj:
    """The event as a dict if ``Stripe-Signature`` is valid and fresh (HMAC-SHA256 over
    ``"{t}.{payload}"``, 300 s tolerance); else ``InvalidSignature``."""
    if not sig_header:
        raise InvalidSignature("Missing Stripe-Signature header.")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), sig_header, secret, WEBHOOK_TOLERANCE
        )
        event: Obj = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError, TypeError) as exc:
        # TypeError: a header with non-ASCII characters cannot even be compared.
        raise InvalidSignature(f"Bad webhook signature: {exc}") from exc
    if (
        not isinstance(event, dict)
        or not _is_event_id(event.get("id"))
        or not _is_event_type(event.get("type"))
    ):
        raise InvalidSignature("The payload is not a Stripe event.")
    return event


EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
EVENT_TYPE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")


def _is_event_id(value: Any) -> bool:
    """Stripe's ids (``evt_...``) are short words of ASCII letters, digits and ``_``;
    anything else (a NUL, a space, a non-ASCII letter) is not from Stripe."""
    return isinstance(value, str) and EVENT_ID.fullmatch(value) is not None


def _is_event_type(value: Any) -> bool:
    """``invoice.paid``, ``customer.subscription.updated``: dotted lowercase words."""
    return isinstance(value, str) and len(value) <= 100 and EVENT_TYPE.fullmatch(value) is not None


_gateway: StripeGateway | None = None
_gateway_key: tuple[str, str | None] | None = None


def payments_configured(settings: Settings | None = None) -> bool:
    """Whether a Stripe key is set (``NCM_STRIPE_API_KEY``): without one, nothing is sold."""
    return bool((settings or get_settings()).stripe_api_key)


def gateway(settings: Settings | None = None) -> StripeGateway:
    """The process's gateway, built from settings (rebuilt if they change, as in tests)."""
    global _gateway, _gateway_key
    settings = settings or get_settings()
    if not settings.stripe_api_key:  # payments_configured(), narrowed for the type checker
        raise BillingNotConfigured()
    key = (settings.stripe_api_key, settings.stripe_api_base)
    if _gateway is None or _gateway_key != key:
        _gateway = StripeGateway(settings.stripe_api_key, settings.stripe_api_base)
        _gateway_key = key
    return _gateway


# compensation: move an auto-renewing subscriber's next charge (appended for issue 14) ------


async def move_next_charge(
    gw: StripeGateway, subscription_id: str, *, expected_period_end: int, trial_end: int, key: str
) -> Obj | None:
    """Move the next charge of a subscription to ``trial_end`` (a trial until then, no
    proration: ``proration_behavior=none`` at Stripe), only if its current period still ends at ``expected_period_end`` and it
    still renews itself; else ``None`` (it renewed, ended or changed: the ledger's stacking
    rule already places the gift, and moving now could charge twice). The write carries
    ``key`` as its idempotency key, so a retried move is one move."""
    sub = await gw.retrieve_subscription(subscription_id)
    if sub is None or sub.get("status") not in {"active", "trialing", "past_due"}:
        return None
    if sub.get("cancel_at_period_end"):
        return None
    items = ((sub.get("items") or {}).get("data")) or [{}]
    period_end = sub.get("current_period_end") or items[0].get("current_period_end")
    if int(period_end or 0) != expected_period_end:
        return None
    params: Obj = {"trial_end": trial_end, "metadata": {"ncm_moved_by": key}}
    if gw.is_stripe:
        # Stripe credits the paid days a trial now calls free unless told not to ("disable
        # proration when moving the billing cycle", docs.stripe.com/billing/subscriptions/
        # billing-cycle). localstripe refuses the parameter and never prorates a trial_end.
        params["proration_behavior"] = "none"
    return await gw.update_subscription(subscription_id, params, key)


# finance: the month's paid invoices and refunds, for reconciliation (listed page by page) --


async def _paged(
    stripe: StripeGateway, what: str, lister: Callable[[Any], Awaitable[Any]], params: Obj
) -> AsyncIterator[Obj]:
    after: str | None = None
    while True:
        page_params: Any = {**params, "limit": 100}
        if after:
            page_params["starting_after"] = after
        page = await stripe._call(what, functools.partial(lister, page_params))
        data = page.get("data") or []
        for item in data:
            yield item
        if not page.get("has_more") or not data:
            return
        after = data[-1]["id"]


def list_paid_invoices(
    stripe: StripeGateway, *, created_gte: int, created_lt: int
) -> AsyncIterator[Obj]:
    """Every paid invoice created in ``[created_gte, created_lt)`` (Unix seconds), 100 a page."""
    return _paged(
        stripe,
        "invoices.list",
        stripe.client.v1.invoices.list_async,
        {"status": "paid", "created": {"gte": created_gte, "lt": created_lt}},
    )


def list_refunds(stripe: StripeGateway, *, created_gte: int) -> AsyncIterator[Obj]:
    """Every refund created since ``created_gte`` (Unix seconds), 100 a page."""
    return _paged(
        stripe,
        "refunds.list",
        stripe.client.v1.refunds.list_async,
        {"created": {"gte": created_gte}},
    )
