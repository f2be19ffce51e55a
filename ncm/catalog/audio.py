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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from itertools import accumulate, cycle, islice, repeat
from operator import add, floordiv, mul
from pathlib import Path

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


# Keyed by the names of ``ncm.catalog.models.Quality`` (a StrEnum, so its members work as
# keys too). This module does not import the ORM, so worker processes start fast.
FORMATS: dict[str, PcmFormat] = {
    "STANDARD": PcmFormat(8000, 1, 2),
    "HIGHER": PcmFormat(12000, 1, 2),
    "EXHIGH": PcmFormat(20000, 1, 2),
    "LOSSLESS": PcmFormat(44100, 2, 2),
    "HIRES": PcmFormat(96000, 2, 3),
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
    Style.ELECTRONIC: _Preset(
        (104, 122), (1, 0.5, 0.33, 0.25, 0.2), 0.006, 0.35, (0, 1, 2, 3), (), (0.5, 1.5, 2.5, 3.5)
    ),
    Style.DANCE: _Preset(
        (120, 128), (1, 0.45, 0.3, 0.2), 0.004, 0.25, (0, 1, 2, 3), (1, 3), (0.5, 1.5, 2.5, 3.5)
    ),
    Style.HIP_HOP: _Preset(
        (82, 94), (1, 0.3, 0.1), 0.01, 0.5, (0, 1.75, 2.5), (1, 3), (0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5)
    ),
    Style.SOUNDTRACK: _Preset((62, 76), (1, 0.5, 0.25, 0.12), 0.12, 1.6, (), (), ()),
    Style.ROCK: _Preset(
        (112, 138),
        (1, 0, 0.33, 0, 0.2, 0, 0.14),
        0.004,
        0.6,
        (0, 2, 2.5),
        (1, 3),
        (0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5),
    ),
    Style.POP: _Preset(
        (92, 112), (1, 0.4, 0.2, 0.1), 0.008, 0.7, (0, 2), (1, 3), (0.5, 1.5, 2.5, 3.5)
    ),
}

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
_LEAD_GAIN, _BASS_GAIN, _KICK_GAIN, _SNARE_GAIN, _HAT_GAIN = 0.3, 0.24, 0.42, 0.16, 0.05
_HEADROOM = _LEAD_GAIN + _BASS_GAIN + _KICK_GAIN + _SNARE_GAIN + _HAT_GAIN
_BASS_TIMBRE = (1.0, 0.3)
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
    start: float  # beats from the start of the cycle
    end: float
    midi: int


@dataclass(frozen=True)
class _Score:
    """One cycle of four bars (16 beats); the tune repeats it."""

    beat_ms: int  # a multiple of 10 ms: a whole number of samples at every tier's rate
    lead: tuple[_Note, ...]  # contiguous, covering the cycle
    bass: tuple[_Note, ...]  # contiguous, covering the cycle
    drums: tuple[tuple[str, float], ...]  # (kind, onset in beats)
    preset: _Preset


CYCLE_BEATS = 16


def _pitch(root: int, scale: Sequence[int], degree: int) -> int:
    octave, step = divmod(degree, len(scale))
    return root + 12 * octave + scale[step]


@lru_cache(maxsize=64)
def _score(seed: int, style: Style) -> _Score:
    """A two-bar phrase and its answer over a four-chord bass line."""
    rng = random.Random(seed)
    preset = _PRESETS[style]
    beat_ms = 10 * round(6000 / rng.randint(*preset.tempo))
    scale = _SCALES[rng.choice(sorted(_SCALES))]
    root = rng.randint(57, 64)  # A3..E4: the lead sits an octave above, the bass one below
    chords = rng.choice(_PROGRESSIONS)
    rhythm = rng.choice(_RHYTHMS)
    degrees = []
    degree = rng.choice((0, 2, 4))
    for _ in rhythm:
        degrees.append(degree)
        degree = max(-2, min(9, degree + rng.choice((-3, -2, -1, -1, 0, 1, 1, 2, 3))))
    answer = [*degrees[:-2], rng.choice((1, 3, 6)), 0]  # the second phrase resolves home
    lead: list[_Note] = []
    t = 0.0
    for phrase in (degrees, answer):
        for length, deg in zip(rhythm, phrase, strict=True):
            lead.append(_Note(t, t + length, _pitch(root + 12, scale, deg)))
            t += length
    bass = [
        _Note(b, b + 2, _pitch(root - 12, scale, chords[int(b) // 4]))
        for b in range(0, CYCLE_BEATS, 2)
    ]
    drums = [
        (kind, bar * 4 + p)
        for bar in range(CYCLE_BEATS // 4)
        for kind, positions in (
            ("kick", preset.kicks),
            ("snare", preset.snares),
            ("hat", preset.hats),
        )
        for p in positions
    ]
    return _Score(beat_ms, tuple(lead), tuple(bass), tuple(drums), preset)


@lru_cache(maxsize=512)
def _loop(
    midi: int, rate: int, harmonics: tuple[float, ...], amplitude: float
) -> tuple[float, ...]:
    """Whole periods of a pitch (about 1000 samples, tuned within 2 cents) to tile."""
    freq = 440.0 * 2 ** ((midi - 69) / 12)
    periods = max(1, round(1000 * freq / rate))
    size = round(periods * rate / freq)
    step = 2 * math.pi * periods / size
    # Harmonics above 45% of the sample rate would alias; lower tiers simply lose them.
    parts = [(k, a) for k, a in enumerate(harmonics, 1) if a and k * freq < 0.45 * rate]
    norm = amplitude / sum(a for _, a in parts)
    out = [0.0] * size
    for k, a in parts:
        w, g = k * step, a * norm
        out = list(map(add, out, [g * math.sin(w * i) for i in range(size)]))
    return tuple(out)


def _envelopes(rate: int, attack: float, decay: float) -> Callable[[int], list[float]]:
    """Note envelopes at ``rate``: attack ramp, exponential decay towards a sustain level,
    a short release at the end. All are prefixes of one curve, built at C speed."""
    att = max(1, int(attack * rate))
    release = max(1, int(0.03 * rate))
    ramp_down = [i / release for i in range(release, 0, -1)]
    curve = [i / att for i in range(att)]
    made: dict[int, list[float]] = {}

    def envelope(size: int) -> list[float]:
        if size not in made:
            if len(curve) < size:
                falling = accumulate(repeat(math.exp(-1 / (decay * rate)), size), mul, initial=0.7)
                del curve[att:]
                curve.extend(map(add, repeat(0.3), islice(falling, size - att)))
            env = curve[:size]
            rel = min(release, size)
            env[size - rel :] = map(mul, env[size - rel :], ramp_down[release - rel :])
            made[size] = env
        return made[size]

    return envelope


@lru_cache(maxsize=16)
def _drum(kind: str, rate: int, amplitude: float) -> tuple[float, ...]:
    """One drum hit: a falling sine for the kick, decaying noise for snare and hat."""
    if kind == "kick":
        out, phase = [], 0.0
        for i in range(int(0.18 * rate)):
            t = i / rate
            phase += 2 * math.pi * (45 + 85 * math.exp(-t * 30)) / rate
            out.append(amplitude * _KICK_GAIN * math.sin(phase) * math.exp(-t * 18))
        return tuple(out)
    rng = random.Random(kind)
    length, falloff, gain = (0.16, 28, _SNARE_GAIN) if kind == "snare" else (0.04, 90, _HAT_GAIN)
    amp = amplitude * gain
    return tuple(
        amp * rng.uniform(-1, 1) * math.exp(-falloff * i / rate) for i in range(int(length * rate))
    )


def _cycle(tune: Tune, rate: int, amplitude: float) -> list[float]:
    """One cycle of the tune at ``rate``, within +-``amplitude`` x the sum of the gains.

    Lead and bass are each a concatenation of notes (each distinct note rendered once),
    summed in one pass; drum hits are added where they fall.
    """
    score = _score(tune.seed, tune.style)
    preset = score.preset
    beat = score.beat_ms * rate // 1000
    size = CYCLE_BEATS * beat
    envelope = _envelopes(rate, preset.attack, preset.decay)
    notes: dict[tuple[int, int, float], list[float]] = {}

    def voice(line: Sequence[_Note], harmonics: tuple[float, ...], gain: float) -> list[float]:
        out: list[float] = []
        for note in line:
            n = round(note.end * beat) - round(note.start * beat)
            key = (note.midi, n, gain)
            if key not in notes:
                loop = _loop(note.midi, rate, harmonics, gain * amplitude)
                notes[key] = list(map(mul, islice(cycle(loop), n), envelope(n)))
            out.extend(notes[key])
        return out

    lead = voice(score.lead, preset.harmonics, _LEAD_GAIN)
    mix = list(map(add, lead, voice(score.bass, _BASS_TIMBRE, _BASS_GAIN)))
    hits: dict[str, tuple[float, ...]] = {}
    for kind, onset in score.drums:
        if kind not in hits:
            hits[kind] = _drum(kind, rate, amplitude)
        start = round(onset * beat)
        end = min(size, start + len(hits[kind]))
        mix[start:end] = map(add, mix[start:end], hits[kind])
    return mix


def render(tune: Tune, fmt: PcmFormat) -> bytes:
    """The tune's PCM frames (little-endian, interleaved) in ``fmt``."""
    if fmt.sample_width not in (2, 3) or fmt.channels not in (1, 2):
        raise ValueError(f"unsupported PCM format {fmt}")
    rate = fmt.sample_rate
    total = fmt.frames(tune.duration_ms)
    # Loops, envelopes and drum hits never exceed their gains, so a cycle scaled by the
    # sum of the gains cannot clip: no peak search, no normalization pass.
    amplitude = (2 ** (8 * fmt.sample_width - 1) - 1) / _HEADROOM
    typecode = "h" if fmt.sample_width == 2 else "i"
    samples = array(typecode, map(math.trunc, _cycle(tune, rate, amplitude)))
    samples *= total // len(samples) + 1
    del samples[total:]
    fade = min(total, int(_FADE_OUT_S * rate))
    ramp = map(mul, samples[total - fade :], range(fade, 0, -1))
    samples[total - fade :] = array(typecode, map(floordiv, ramp, repeat(fade)))
    if fmt.channels == 2:
        delay = min(total, int(_STEREO_DELAY_S * rate))
        stereo = array(typecode, bytes(2 * total * samples.itemsize))
        stereo[0::2] = samples
        stereo[2 * delay + 1 :: 2] = samples[: total - delay]
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
