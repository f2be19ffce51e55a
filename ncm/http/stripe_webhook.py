"""``POST /webhooks/stripe``: verify, record, enqueue, answer (processing is a job).

Not behind the GraphQL limits; bodies are capped at :data:`MAX_BODY` (Stripe events are a
few KB) by ``ncm.http.limits.BodyLimit`` before this handler reads them.
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

PATH = "/webhooks/stripe"
MAX_BODY = 256 * 1024


def routes(settings: Settings) -> list[BaseRoute]:
    async def stripe_webhook(request: Request) -> Response:
        try:
            received = await webhooks.receive(
                await request.body(), request.headers.get("stripe-signature"), settings
            )
        except InvalidSignature as exc:
            return JSONResponse({"error": exc.message}, status_code=400)
        except BillingNotConfigured as exc:
            log.error("stripe webhook received but billing is not configured")
            return JSONResponse({"error": exc.message}, status_code=503)
        return JSONResponse(
            {"received": True, "id": received.stripe_id, "duplicate": received.duplicate}
        )

    return [Route(PATH, stripe_webhook, methods=["POST"])]
