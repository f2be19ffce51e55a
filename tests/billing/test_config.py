"""Production refuses a Stripe setup that cannot verify webhooks or points elsewhere."""

from __future__ import annotations

import dataclasses

import pytest

from ncm.config import ConfigError, get_settings


def _production(**changes: object) -> object:
    base = dataclasses.replace(
        get_settings(),
        production=True,
        secret_key="s" * 40,
        stream_signing_keys={"k9": "x" * 40},
        argon2_time_cost=3,
        argon2_memory_kib=65536,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_stripe_key_without_webhook_secret_is_refused() -> None:
    settings = _production(
        stripe_api_key="sk_live_x", stripe_webhook_secret=None, stripe_api_base=None
    )
    with pytest.raises(ConfigError, match="NCM_STRIPE_WEBHOOK_SECRET"):
        settings.check_production()  # type: ignore[attr-defined]


def test_plain_http_stripe_base_is_refused_and_a_full_setup_passes() -> None:
    bad = _production(
        stripe_api_key="sk_live_x",
        stripe_webhook_secret="whsec_x",
        stripe_api_base="http://127.0.0.1:8420",
    )
    with pytest.raises(ConfigError, match="NCM_STRIPE_API_BASE"):
        bad.check_production()  # type: ignore[attr-defined]
    good = _production(
        stripe_api_key="sk_live_x", stripe_webhook_secret="whsec_x", stripe_api_base=None
    )
    good.check_production()  # type: ignore[attr-defined]
