"""The decision as a pure function of facts (the same code runs on cached facts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ncm.catalog.models import FeePolicy, Quality, TrackStatus
from ncm.stream.decision import (
    LicenseFacts,
    ListenerFacts,
    Outcome,
    RenditionFacts,
    RequestedQuality,
    TrackFacts,
    decide,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LISTENER = ListenerFacts(7, "CN")


def track(
    *qualities: Quality,
    fee: FeePolicy = FeePolicy.FREE,
    duration_ms: int = 200_000,
    licenses: tuple[LicenseFacts, ...] = (LicenseFacts("*", None, None),),
) -> TrackFacts:
    renditions = tuple(
        RenditionFacts(i, q, 128, "mp3", 100_000, f"{q}.mp3") for i, q in enumerate(qualities)
    )
    return TrackFacts(1, TrackStatus.AVAILABLE, fee, duration_ms, renditions, licenses)


def test_preview_bytes_are_the_first_thirty_seconds_rounded_up() -> None:
    d = decide(
        track(Quality.STANDARD, fee=FeePolicy.MEMBERS_ONLY, duration_ms=70_000),
        LISTENER,
        RequestedQuality.BEST,
        NOW,
    )
    assert d.outcome == Outcome.PLAYABLE
    assert d.preview_ms == (0, 30_000)
    assert d.preview_bytes == (0, 42_857)  # ceil(100,000 x 30/70) - 1


def test_a_short_members_only_track_previews_its_whole_length() -> None:
    d = decide(
        track(Quality.STANDARD, fee=FeePolicy.MEMBERS_ONLY, duration_ms=20_000),
        LISTENER,
        RequestedQuality.BEST,
        NOW,
    )
    assert d.preview_ms == (0, 20_000) and d.preview_bytes == (0, 99_999)


def test_members_only_without_a_free_quality_needs_membership() -> None:
    d = decide(
        track(Quality.LOSSLESS, fee=FeePolicy.MEMBERS_ONLY), LISTENER, RequestedQuality.BEST, NOW
    )
    assert d.outcome == Outcome.MEMBERSHIP_REQUIRED and d.available_qualities == []


def test_region_license_beats_wildcard_window_and_order_of_checks() -> None:
    licenses = (LicenseFacts("*", None, NOW - timedelta(days=1)), LicenseFacts("CN", None, None))
    assert (
        decide(
            track(Quality.STANDARD, licenses=licenses), LISTENER, RequestedQuality.BEST, NOW
        ).outcome
        == Outcome.PLAYABLE
    )
    # Not licensed comes before login: no point asking someone to log in for nothing.
    only_jp = (LicenseFacts("JP", None, None),)
    anonymous = ListenerFacts(None, "CN")
    d = decide(track(Quality.STANDARD, licenses=only_jp), anonymous, RequestedQuality.BEST, NOW)
    assert d.outcome == Outcome.NOT_LICENSED_IN_REGION
    # A listener without a region is covered by worldwide licenses only.
    d = decide(
        track(Quality.STANDARD, licenses=only_jp),
        ListenerFacts(7, None),
        RequestedQuality.BEST,
        NOW,
    )
    assert d.outcome == Outcome.NOT_LICENSED_IN_REGION and "set it with updateProfile" in d.message


def test_license_window_end_is_exclusive() -> None:
    ends_now = (LicenseFacts("*", None, NOW),)
    d = decide(track(Quality.STANDARD, licenses=ends_now), LISTENER, RequestedQuality.BEST, NOW)
    assert d.outcome == Outcome.TRACK_UNAVAILABLE and d.available_until == NOW


def test_facts_survive_the_cache_round_trip() -> None:
    facts = track(Quality.STANDARD, Quality.HIRES, licenses=(LicenseFacts("CN", NOW, None),))
    assert TrackFacts.from_json(facts.to_json()) == facts
    assert ListenerFacts.from_json(LISTENER.to_json()) == LISTENER
