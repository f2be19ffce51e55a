"""Short synthesized tunes written as PCM WAV files, with only the standard library.

Each rendition tier is a PCM format whose bitrate is exactly the tier's
(``rate x bits x channels``): STANDARD 8 kHz/16-bit mono = 128 kbit/s, HIGHER 12 kHz = 192,
EXHIGH 20 kHz = 320, LOSSLESS 44.1 kHz/16-bit stereo = 1411, HIRES 96 kHz/24-bit stereo = 4608.

A :class:`Tune` (seed, duration, style) is a deterministic piece of music: a phrase of a
few notes over a four-chord bass line, with drums for the styles that have them. It is the
same function of time at every sample rate, so every tier of a track sounds alike.

Speed without numpy: each pitch is a cached loop of whole periods (about a thousand
samples) that is tiled with ``itertools`` and shaped by a cached envelope, and every
per-sample operation is a ``map`` over C-level ``operator`` functions.
"""

from __future__ import annotations

import math
import os
import random
import sys
import wave
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from itertools import cycle, islice, repeat
from operator import add, mul
from pathlib import Path

from ncm.catalog.models import Quality

WAV_HEADER_BYTES = 44  # the canonical RIFF/fmt/data header that ``wave`` writes for PCM


@dataclass(frozen=True)
class PcmFormat:
    sample_rate: int
    channels: int
    sample_width: int  # bytes per sample

    @property
    def bitrate_kbps(self) -> int:
        return self.sample_rate * self.channels * self.sample_width * 8 // 1000

    def frames(self, duration_ms: int) -> int:
        frames, rest = divmod(self.sample_rate * duration_ms, 1000)
        if rest:
            raise ValueError(f"{duration_ms} ms is not a whole number of frames at {self}")
        return frames

    def wav_size(self, duration_ms: int) -> int:
        """The size of the WAV file of a tune this long, header included."""
        return WAV_HEADER_BYTES + self.frames(duration_ms) * self.channels * self.sample_width


FORMATS: dict[Quality, PcmFormat] = {
    Quality.STANDARD: PcmFormat(8000, 1, 2),
    Quality.HIGHER: PcmFormat(12000, 1, 2),
    Quality.EXHIGH: PcmFormat(20000, 1, 2),
    Quality.LOSSLESS: PcmFormat(44100, 2, 2),
    Quality.HIRES: PcmFormat(96000, 2, 3),
}


class Style(StrEnum):
    ELECTRONIC = "electronic"
    DANCE = "dance"
    HIP_HOP = "hip-hop"
    SOUNDTRACK = "soundtrack"
    ROCK = "rock"
    POP = "pop"


@dataclass(frozen=True)
class _Preset:
    tempo: tuple[int, int]  # beats per minute, inclusive range
    harmonics: tuple[float, ...]  # lead timbre: amplitude of harmonic 1, 2, ...
    attack: float  # seconds
    decay: float  # seconds for the note to fall to 1/e
    kicks: tuple[float, ...]  # positions in beats within a 4-beat bar
    snares: tuple[float, ...]
    hats: tuple[float, ...]


_PRESETS: dict[Style, _Preset] = {
    Style.ELECTRONIC: _Preset((104, 122), (1, 0.5, 0.33, 0.25, 0.2), 0.006, 0.35,
                              (0, 1, 2, 3), (), (0.5, 1.5, 2.5, 3.5)),
    Style.DANCE: _Preset((120, 128), (1, 0.45, 0.3, 0.2), 0.004, 0.25,
                         (0, 1, 2, 3), (1, 3), (0.5, 1.5, 2.5, 3.5)),
    Style.HIP_HOP: _Preset((82, 94), (1, 0.3, 0.1), 0.01, 0.5,
                           (0, 1.75, 2.5), (1, 3), (0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5)),
    Style.SOUNDTRACK: _Preset((62, 76), (1, 0.5, 0.25, 0.12), 0.12, 1.6, (), (), ()),
    Style.ROCK: _Preset((112, 138), (1, 0, 0.33, 0, 0.2, 0, 0.14), 0.004, 0.6,
                        (0, 2, 2.5), (1, 3), (0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5)),
    Style.POP: _Preset((92, 112), (1, 0.4, 0.2, 0.1), 0.008, 0.7,
                       (0, 2), (1, 3), (0.5, 1.5, 2.5, 3.5)),
}  # fmt: skip

_SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
}
# Chord roots as scale degrees, one chord per bar.
_PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (0, 6, 5, 4))
# Two-bar rhythms in beats; each sums to 8.
_RHYTHMS = (
    (1, 1, 1, 1, 2, 1, 1),
    (0.5, 0.5, 1, 1, 1, 1.5, 0.5, 2),
    (1.5, 0.5, 1, 1, 1.5, 0.5, 2),
    (2, 1, 1, 2, 2),
    (1, 0.5, 0.5, 1, 1, 1, 1, 2),
)
_LEAD_GAIN, _BASS_GAIN, _KICK_GAIN, _SNARE_GAIN, _HAT_GAIN = 0.34, 0.26, 0.55, 0.22, 0.06
_FADE_OUT_S = 1.2
_STEREO_DELAY_S = 0.012  # the right channel lags a little (Haas effect): width for free


@dataclass(frozen=True)
class Tune:
    """A deterministic piece of music: same seed and style, same notes."""

    seed: int
    duration_ms: int
    style: Style = Style.POP


@dataclass(frozen=True)
class _Note:
    start: float  # seconds
    length: float  # seconds
    midi: int


@dataclass(frozen=True)
class _Score:
    lead: tuple[_Note, ...]
    bass: tuple[_Note, ...]
    kicks: tuple[float, ...]  # onsets in seconds
    snares: tuple[float, ...]
    hats: tuple[float, ...]
    harmonics: tuple[float, ...]
    attack: float
    decay: float


def _pitch(root: int, scale: Sequence[int], degree: int) -> int:
    octave, step = divmod(degree, len(scale))
    return root + 12 * octave + scale[step]


@lru_cache(maxsize=64)
def _score(tune: Tune) -> _Score:
    """The notes of a tune: a two-bar phrase and its variation over four bars, looped."""
    rng = random.Random(tune.seed)
    preset = _PRESETS[tune.style]
    beat = 60.0 / rng.randint(*preset.tempo)
    scale = _SCALES[rng.choice(sorted(_SCALES))]
    root = rng.randint(57, 64)  # A3..E4: the lead sits an octave above
    chords = rng.choice(_PROGRESSIONS)
    rhythm = rng.choice(_RHYTHMS)
    degrees = []
    degree = rng.choice((0, 2, 4))
    for _ in rhythm:
        degrees.append(degree)
        degree = max(-2, min(9, degree + rng.choice((-2, -1, -1, 1, 1, 2, 3, -3, 0))))
    answer = [*degrees[:-2], rng.choice((1, 3, 6)), 0]  # the second phrase resolves home
    duration = tune.duration_ms / 1000
    lead: list[_Note] = []
    bass: list[_Note] = []
    kicks: list[float] = []
    snares: list[float] = []
    hats: list[float] = []
    bar = 4 * beat
    t0 = 0.0
    bar_index = 0
    while t0 < duration:
        phrase = degrees if bar_index % 4 == 0 else answer
        t = t0
        for length, deg in zip(rhythm, phrase, strict=True):
            lead.append(_Note(t, length * beat, _pitch(root + 12, scale, deg)))
            t += length * beat
        for b in range(2):
            start = t0 + b * bar
            chord = chords[(bar_index + b) % len(chords)]
            for offset in (0.0, 2.0):
                bass.append(_Note(start + offset * beat, 2 * beat, _pitch(root - 12, scale, chord)))
            kicks.extend(start + p * beat for p in preset.kicks)
            snares.extend(start + p * beat for p in preset.snares)
            hats.extend(start + p * beat for p in preset.hats)
        t0 += 2 * bar
        bar_index += 2
    return _Score(
        lead=tuple(n for n in lead if n.start < duration),
        bass=tuple(n for n in bass if n.start < duration),
        kicks=tuple(x for x in kicks if x < duration),
        snares=tuple(x for x in snares if x < duration),
        hats=tuple(x for x in hats if x < duration),
        harmonics=preset.harmonics,
        attack=preset.attack,
        decay=preset.decay,
    )


@lru_cache(maxsize=2048)
def _loop(midi: int, rate: int, harmonics: tuple[float, ...], gain: float) -> tuple[float, ...]:
    """Whole periods of a pitch (about 1000 samples, tuned within 2 cents) to tile."""
    freq = 440.0 * 2 ** ((midi - 69) / 12)
    periods = max(1, round(1000 * freq / rate))
    size = round(periods * rate / freq)
    step = 2 * math.pi * periods / size
    # Harmonics above 45% of the sample rate would alias; lower tiers simply lose them.
    parts = [(k, a) for k, a in enumerate(harmonics, 1) if a and k * freq < 0.45 * rate]
    norm = gain / sum(a for _, a in parts)
    return tuple(norm * sum(a * math.sin(k * step * i) for k, a in parts) for i in range(size))


@lru_cache(maxsize=1024)
def _envelope(size: int, rate: int, attack: float, decay: float) -> tuple[float, ...]:
    """Attack ramp, exponential decay towards a sustain level, short release at the end."""
    att = max(1, int(attack * rate))
    rel = min(size - att, max(1, int(0.03 * rate)))
    k = 1.0 / (decay * rate)
    env = [i / att for i in range(att)]
    env.extend(0.3 + 0.7 * math.exp(-k * i) for i in range(size - att))
    for i in range(rel):
        env[size - 1 - i] *= i / rel
    return tuple(env)


@lru_cache(maxsize=16)
def _drum(kind: str, rate: int, seed: int) -> tuple[float, ...]:
    """One drum hit: a falling sine for the kick, decaying noise for snare and hat."""
    if kind == "kick":
        size = int(0.18 * rate)
        out, phase = [], 0.0
        for i in range(size):
            t = i / rate
            freq = 45 + 85 * math.exp(-t * 30)
            phase += 2 * math.pi * freq / rate
            out.append(_KICK_GAIN * math.sin(phase) * math.exp(-t * 18))
        return tuple(out)
    rng = random.Random(seed * 31 + (1 if kind == "snare" else 2))
    length, falloff, gain = (0.16, 28, _SNARE_GAIN) if kind == "snare" else (0.04, 90, _HAT_GAIN)
    size = int(length * rate)
    return tuple(gain * rng.uniform(-1, 1) * math.exp(-falloff * i / rate) for i in range(size))


def _add(mix: list[float], start: int, samples: Sequence[float] | Iterator[float], n: int) -> None:
    end = min(len(mix), start + n)
    if end > start:
        mix[start:end] = map(add, mix[start:end], samples)


def _mono(tune: Tune, rate: int) -> list[float]:
    """The tune as floats in about [-1, 1] at ``rate``."""
    score = _score(tune)
    total = tune.duration_ms * rate // 1000
    mix = [0.0] * total
    voices = ((score.lead, score.harmonics, _LEAD_GAIN), (score.bass, (1, 0.3), _BASS_GAIN))
    for notes, harmonics, gain in voices:
        for note in notes:
            start = int(note.start * rate)
            size = int(note.length * rate)
            loop = _loop(note.midi, rate, harmonics, gain)
            env = _envelope(size, rate, score.attack, score.decay)
            _add(mix, start, map(mul, islice(cycle(loop), size), env), size)
    for kind, onsets in (("kick", score.kicks), ("snare", score.snares), ("hat", score.hats)):
        if onsets:
            hit = _drum(kind, rate, tune.seed)
            for onset in onsets:
                _add(mix, int(onset * rate), hit, len(hit))
    fade = min(total, int(_FADE_OUT_S * rate))
    if fade:
        mix[total - fade :] = map(mul, mix[total - fade :], (i / fade for i in range(fade, 0, -1)))
    return mix


def _quantize(mix: list[float], bits: int) -> array[int]:
    peak = max(map(abs, mix), default=0.0) or 1.0
    scale = 0.89 * (2 ** (bits - 1) - 1) / peak
    return array("h" if bits == 16 else "i", map(round, map(mul, mix, repeat(scale))))


def render(tune: Tune, fmt: PcmFormat) -> bytes:
    """The tune's PCM frames (little-endian, interleaved) in ``fmt``."""
    if fmt.sample_width not in (2, 3) or fmt.channels not in (1, 2):
        raise ValueError(f"unsupported PCM format {fmt}")
    samples = _quantize(_mono(tune, fmt.sample_rate), 8 * fmt.sample_width)
    if fmt.channels == 2:
        delay = min(len(samples), int(_STEREO_DELAY_S * fmt.sample_rate))
        right = array(samples.typecode, bytes(delay * samples.itemsize)) + samples[: len(samples) - delay]
        stereo = array(samples.typecode, bytes(2 * len(samples) * samples.itemsize))
        stereo[0::2] = samples
        stereo[1::2] = right
        samples = stereo
    if sys.byteorder == "big":
        samples.byteswap()
    raw = samples.tobytes()
    if fmt.sample_width == 3:  # keep the low three bytes of each little-endian int32
        packed = bytearray(3 * len(samples))
        for i in range(3):
            packed[i::3] = raw[i::4]
        return bytes(packed)
    return raw


def write_wav(path: Path, tune: Tune, fmt: PcmFormat) -> int:
    """Write the tune as a WAV file unless one of the right size is there; bytes written."""
    expected = fmt.wav_size(tune.duration_ms)
    if path.is_file() and path.stat().st_size == expected:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with wave.open(str(partial), "wb") as out:
            out.setnchannels(fmt.channels)
            out.setsampwidth(fmt.sample_width)
            out.setframerate(fmt.sample_rate)
            out.writeframes(render(tune, fmt))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    size = path.stat().st_size
    if size != expected:
        raise RuntimeError(f"{path} is {size} bytes, expected {expected}")
    return size
