"""A tiny Stripe-shaped HTTP server for reconciliation tests: lists invoices and refunds two
per page (so the wrapper's paging is exercised through the real SDK) and retrieves invoices."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

PAGE = 2


class FakeStripe:
    def __init__(self) -> None:
        self.invoices: list[dict[str, Any]] = []
        self.refunds: list[dict[str, Any]] = []
        self.requests: list[str] = []

    def invoice(self, id: str, amount: int, created: int, **extra: Any) -> None:
        self.invoices.append(
            {
                "id": id,
                "object": "invoice",
                "status": "paid",
                "amount_paid": amount,
                "currency": "cny",
                "created": created,
                **extra,
            }
        )

    def refund(self, payment_intent: str, amount: int) -> None:
        n = len(self.refunds) + 1
        self.refunds.append(
            {
                "id": f"re_{n}",
                "object": "refund",
                "amount": amount,
                "payment_intent": payment_intent,
                "status": "succeeded",
                "created": 1_720_000_000,
            }
        )


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            fake.requests.append(self.path)
            if url.path in ("/v1/invoices", "/v1/refunds"):
                items = fake.invoices if url.path == "/v1/invoices" else fake.refunds
                if "created[gte]" in q:
                    items = [i for i in items if i["created"] >= int(q["created[gte]"])]
                if "created[lt]" in q:
                    items = [i for i in items if i["created"] < int(q["created[lt]"])]
                if q.get("status"):
                    items = [i for i in items if i.get("status") == q["status"]]
                if q.get("starting_after"):
                    ids = [i["id"] for i in items]
                    items = items[ids.index(q["starting_after"]) + 1 :]
                page = items[:PAGE]
                self._send(
                    200,
                    {
                        "object": "list",
                        "url": url.path,
                        "data": page,
                        "has_more": len(items) > PAGE,
                    },
                )
                return
            if url.path.startswith("/v1/invoices/"):
                wanted = url.path.rsplit("/", 1)[1]
                for inv in fake.invoices:
                    if inv["id"] == wanted:
                        self._send(200, inv)
                        return
            self._send(
                404,
                {"error": {"type": "invalid_request_error", "message": "No such object"}},
            )

    return Handler


@contextmanager
def serve() -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
