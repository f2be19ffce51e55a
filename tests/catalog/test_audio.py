"""The synthesized WAV renditions: real PCM at each tier's exact bitrate, deterministic."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path
from typing import Any

import pytest

from ncm.catalog.audio import FORMATS, PcmFormat, Style, Tune, render, write_wav
from ncm.catalog.models import Quality

TIER_KBPS = {"STANDARD": 128, "HIGHER": 192, "EXHIGH": 320, "LOSSLESS": 1411, "HIRES": 4608}
SHAPES = {  # quality: (sample rate, channels, bytes per sample)
    "STANDARD": (8000, 1, 2),
    "HIGHER": (12000, 1, 2),
    "EXHIGH": (20000, 1, 2),
    "LOSSLESS": (44100, 2, 2),
    "HIRES": (96000, 2, 3),
}


def samples_of(path: Path) -> tuple[Any, list[int]]:
    """The file's parameters and its samples as signed integers (interleaved)."""
    with wave.open(str(path)) as wav:
        params = wav.getparams()
        raw = wav.readframes(wav.getnframes())
    if params.sampwidth == 2:
        return params, list(array("h", raw))
    return params, [
        int.from_bytes(raw[i : i + 3], "little", signed=True) for i in range(0, len(raw), 3)
    ]


@pytest.mark.parametrize("quality", list(Quality))
def test_each_tier_is_pcm_wav_at_its_exact_bitrate(quality: Quality, tmp_path: Path) -> None:
    tune = Tune(seed=7, duration_ms=2_500, style=Style.DANCE)
    path = tmp_path / "tune.wav"
    fmt = FORMATS[quality]

    written = write_wav(path, tune, fmt)

    params, samples = samples_of(path)
    rate, channels, width = SHAPES[quality]
    assert (params.framerate, params.nchannels, params.sampwidth) == (rate, channels, width)
    assert params.comptype == "NONE"
    assert params.nframes / params.framerate == 2.5  # the catalog's duration_ms is exact
    assert rate * channels * width * 8 // 1000 == TIER_KBPS[quality] == fmt.bitrate_kbps
    assert written == path.stat().st_size == fmt.wav_size(2_500)
    # Sound, using the format's range without clipping.
    full_scale = 2 ** (8 * width - 1)
    peak = max(map(abs, samples))
    assert 0.3 * full_scale < peak < full_scale - 1
    rms = math.sqrt(sum(x * x for x in samples) / len(samples))
    assert rms > 0.05 * full_scale


def test_stereo_right_channel_is_the_left_a_little_later(tmp_path: Path) -> None:
    path = tmp_path / "hires.wav"
    write_wav(path, Tune(seed=3, duration_ms=1_000, style=Style.ROCK), FORMATS["HIRES"])
    params, samples = samples_of(path)
    left, right = samples[0::2], samples[1::2]
    delay = next(i for i, x in enumerate(right) if x)  # right starts with a short silence
    assert 0 < delay < params.framerate // 50
    assert right[delay:] == left[: len(left) - delay]


def test_every_tier_plays_the_same_music() -> None:
    """The loudness contour over time matches between the lowest and the lossless tier."""
    tune = Tune(seed=11, duration_ms=4_000, style=Style.HIP_HOP)

    def contour(fmt: PcmFormat) -> list[float]:
        pcm = array("h", render(tune, fmt))[:: fmt.channels]
        window = fmt.sample_rate // 20
        return [
            math.sqrt(sum(x * x for x in pcm[i : i + window]) / window)
            for i in range(0, len(pcm) - window + 1, window)
        ]

    low, high = contour(FORMATS["STANDARD"]), contour(FORMATS["LOSSLESS"])
    assert len(low) == len(high) == 80
    mean_l, mean_h = sum(low) / len(low), sum(high) / len(high)
    cov = sum((a - mean_l) * (b - mean_h) for a, b in zip(low, high, strict=True))
    var = math.sqrt(sum((a - mean_l) ** 2 for a in low) * sum((b - mean_h) ** 2 for b in high))
    assert cov / var > 0.9


def test_tunes_are_deterministic_and_differ_by_seed_and_style() -> None:
    fmt = FORMATS["STANDARD"]
    tune = Tune(seed=42, duration_ms=3_000, style=Style.POP)
    assert render(tune, fmt) == render(Tune(seed=42, duration_ms=3_000, style=Style.POP), fmt)
    assert render(tune, fmt) != render(Tune(seed=43, duration_ms=3_000, style=Style.POP), fmt)
    assert render(tune, fmt) != render(Tune(seed=42, duration_ms=3_000, style=Style.ROCK), fmt)


def test_write_wav_keeps_a_file_of_the_right_size_and_repairs_a_short_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a" / "b" / "standard.wav"
    tune, fmt = Tune(seed=1, duration_ms=1_000), FORMATS["STANDARD"]
    first = write_wav(path, tune, fmt)
    assert first == fmt.wav_size(1_000) == 44 + 8000 * 2
    content = path.read_bytes()

    assert write_wav(path, tune, fmt) == 0  # kept as it is

    path.write_bytes(content[:100])  # an interrupted copy, say
    assert write_wav(path, tune, fmt) == first
    assert path.read_bytes() == content
    assert [p.name for p in path.parent.iterdir()] == ["standard.wav"]  # no leftovers


def test_durations_must_be_whole_frames_at_every_rate() -> None:
    assert FORMATS["LOSSLESS"].frames(15_000) == 661_500
    with pytest.raises(ValueError, match="whole number of frames"):
        FORMATS["LOSSLESS"].frames(1_005)  # 44.1 frames per millisecond
