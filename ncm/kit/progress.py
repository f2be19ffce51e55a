"""How long work tells whoever runs it how far it is, without knowing who that is.

Long work (seeding, imports, recounts, refreshes) takes an ``Echo``: a callable given lines
to show. :func:`step` reports a count on it: a progress reporter (the CLI's, with a
``step(task, done, total)`` method: ``ncm/cli/progress.py``) draws a bar with the rate and
the time left; a plain line printer (``print``, a logger) gets ``"  task: done / total"``.
"""

from __future__ import annotations

from collections.abc import Callable

Echo = Callable[[str], object]


def quiet(_: str) -> None:
    """An ``Echo`` that shows nothing (jobs, tests)."""


def step(echo: Echo, task: str, done: int, total: int | None = None) -> None:
    """Tell ``echo`` that ``task`` has done ``done`` of ``total`` (``None``: unknown)."""
    report = getattr(echo, "step", None)
    if callable(report):
        report(task, done, total)
    elif echo is not quiet:
        echo(f"  {task}: {done:,}" + (f" / {total:,}" if total is not None else ""))
