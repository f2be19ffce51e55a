"""Billing tests drive the real Stripe SDK over HTTP against localstripe, started here for
the session on a free port. If it cannot start, the tests fail (they never skip), and the
settings are checked to point at this machine only: no test reaches Stripe.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.billing.helpers import WEBHOOK_SECRET

RUNNER = Path(__file__).with_name("localstripe_runner.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="localstripe-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, str(RUNNER), "--port", str(port), "--from-scratch"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/v1/customers", auth=("sk_test_ncm", ""), timeout=1)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = Path(log.name).read_text(errors="replace")[-2000:]
                pytest.fail(f"localstripe did not start on {url}:\n{output}", pytrace=False)
            time.sleep(0.1)
    os.environ["NCM_STRIPE_API_KEY"] = "sk_test_ncm"
    os.environ["NCM_STRIPE_API_BASE"] = url
    os.environ["NCM_STRIPE_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    from ncm.config import get_settings, reset_settings

    reset_settings()
    base = urlparse(get_settings().stripe_api_base or "")
    assert base.hostname in {"127.0.0.1", "localhost"}, "tests must never reach real Stripe"
    yield url
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(autouse=True)
async def stripe_env(localstripe_url: str) -> AsyncIterator[str]:
    """A clean localstripe for every test."""
    async with httpx.AsyncClient() as client:
        await client.delete(f"{localstripe_url}/_config/data")
    yield localstripe_url


@pytest.fixture
async def vip_plans() -> list[Any]:
    """The default monthly and yearly plans, synced to localstripe."""
    from ncm.billing import plans

    await plans.ensure_default_plans()
    await plans.sync()
    return await plans.list_plans()


@pytest.fixture
def stripe_down(stripe_env: str) -> Iterator[None]:
    """Stripe unreachable (nothing listens on port 9) for the test; restored afterwards
    even if the test fails."""
    from ncm.config import reset_settings

    os.environ["NCM_STRIPE_API_BASE"] = "http://127.0.0.1:9"
    reset_settings()
    try:
        yield
    finally:
        os.environ["NCM_STRIPE_API_BASE"] = stripe_env
        reset_settings()


@pytest.fixture
def stripe_up(stripe_env: str) -> Any:
    """Call ``stripe_up()`` inside a test that used ``stripe_down`` to bring Stripe back."""
    from ncm.config import reset_settings

    def restore() -> None:
        os.environ["NCM_STRIPE_API_BASE"] = stripe_env
        reset_settings()

    return restore
