"""``POST /webhooks/stripe``: verify, record, enqueue, answer (processing is a job).

Not behind the GraphQL limits; bodies are capped (Stripe events are a few KB).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ncm.billing import webhooks
from ncm.billing.errors import BillingNotConfigured, InvalidSignature
from ncm.config import Settings

log = logging.getLogger("ncm.http.stripe_webhook")

MAX_BODY = 256 * 1024


class _TooLarge(Exception):
    pass


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise _TooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def routes(settings: Settings) -> list[BaseRoute]:
    async def stripe_webhook(request: Request) -> Response:
        try:
            payload = await _body(request)
        except _TooLarge:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        try:
            received = await webhooks.receive(
                payload, request.headers.get("stripe-signature"), settings
            )
        except InvalidSignature as exc:
            return JSONResponse({"error": exc.message}, status_code=400)
        except BillingNotConfigured as exc:
            log.error("stripe webhook received but billing is not configured")
            return JSONResponse({"error": exc.message}, status_code=503)
        return JSONResponse(
            {"received": True, "id": received.stripe_id, "duplicate": received.duplicate}
        )

    return [Route("/webhooks/stripe", stripe_webhook, methods=["POST"])]
