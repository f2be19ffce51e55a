"""Progress of long commands, the same for all of them (``seed scale``, imports,
compensation runs, recounts, refreshes, reports ...).

``with progress() as report:`` gives a reporter to pass where long work takes an ``Echo``
(``ncm/kit/progress.py``): ``report("a line")`` shows a line, ``report.step(task, done,
total)`` a count. On a terminal each task is a rich bar with rows per second and the time
left; elsewhere (a log, CI, a pipe) plain lines, one per task at most every
:data:`LINE_SECONDS` and always the last, with the same figures. It writes to stderr, so
``--json`` output on stdout stays clean. ``working(label)`` is the same for work that has
no count (a spinner and the time taken).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ncm.cli.common import err_console

LINE_SECONDS = 5.0  # plain lines: at most one per task this often


class RateColumn(ProgressColumn):
    """Rows (or another unit) per second."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None and task.elapsed:  # rich's own needs several samples
            speed = task.completed / task.elapsed
        return Text(f"{speed or 0:,.0f} {self.unit}/s", style="cyan")


@dataclass
class _Line:
    started: float
    last_shown: float = -1.0


@dataclass
class Reporter:
    """An ``Echo`` with counts: lines and steps go to a bar or to plain lines."""

    console: Console
    unit: str = "rows"
    bars: Progress | None = None
    _tasks: dict[str, TaskID] = field(default_factory=dict)
    _lines: dict[str, _Line] = field(default_factory=dict)

    def __call__(self, message: str) -> None:
        target = self.bars.console if self.bars is not None else self.console
        target.print(Text(message), soft_wrap=True)

    def step(self, task: str, done: int, total: int | None = None) -> None:
        if self.bars is not None:
            if task not in self._tasks:
                self._tasks[task] = self.bars.add_task(task, total=total)
            self.bars.update(self._tasks[task], completed=done, total=total)
            return
        now = time.monotonic()
        line = self._lines.setdefault(task, _Line(started=now))
        last = total is not None and done >= total
        if not last and line.last_shown >= 0 and now - line.last_shown < LINE_SECONDS:
            return
        line.last_shown = now
        self(plain_line(task, done, total, now - line.started, self.unit))


def plain_line(task: str, done: int, total: int | None, elapsed: float, unit: str) -> str:
    """``task: done / total (pct), rate unit/s, ETA`` (or the time taken when done)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    text = f"{task}: {done:,}"
    if total is not None:
        text += f" / {total:,} ({done / total:.0%})" if total else " / 0"
    text += f", {rate:,.0f} {unit}/s"
    if total is not None and done >= total:
        return f"{text}, done in {_duration(elapsed)}"
    if total is not None and rate > 0:
        text += f", ETA {_duration((total - done) / rate)}"
    return text


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


@contextmanager
def progress(unit: str = "rows", *, console: Console | None = None) -> Iterator[Reporter]:
    """A reporter for one long command: bars on a terminal, plain lines elsewhere."""
    target = console or err_console
    if not target.is_terminal:
        yield Reporter(target, unit)
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=target,
    )
    with bars:
        yield Reporter(target, unit, bars)


@contextmanager
def working(label: str, *, console: Console | None = None) -> Iterator[None]:
    """Work without a count: a spinner with the time taken so far on a terminal (gone when
    the work ends), and elsewhere one line with the time taken when it is done (a failure
    prints only its ``error:`` line)."""
    target = console or err_console
    started = time.monotonic()
    if target.is_terminal:
        spinner = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=target,
            transient=True,
        )
        with spinner:
            spinner.add_task(label, total=None)
            yield
        return
    yield
    target.print(Text(f"{label}: done in {_duration(time.monotonic() - started)}"), soft_wrap=True)
