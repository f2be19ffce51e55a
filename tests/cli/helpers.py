"""Run ``ncm`` commands in-process against the test database.

A command is a plain function that calls ``asyncio.run``, which cannot run on the test's own
event loop: ``ncm()`` runs it in a worker thread (its own loop, its own Tortoise context and
Redis pool, as a separate process would have) and blocks the test until it ends, so nothing
of the test runs meanwhile. ``ncm_process()`` runs the real installed entry point, for the few
tests about the command itself.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import typer.main
import typer.testing
from typer.testing import CliRunner

from ncm.cli.main import app

WIDE = {"COLUMNS": "240"}  # tables keep ids and URLs whole

# Typer's CliRunner builds the click command from the app on every call, walking every
# command's signature (~0.1 s each, ~200 calls a pass); the app does not change during a run,
# so it is built once. (A test-only patch of a private name: if Typer renames it, the tests
# only get slower.)
typer.testing._get_command = functools.cache(typer.main.get_command)


@dataclass(frozen=True)
class Result:
    """What a finished command left: the fields of ``subprocess.CompletedProcess``."""

    returncode: int
    stdout: str
    stderr: str


def ncm(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run ``ncm ARGS...`` in-process; an unexpected exception shows in ``stderr``."""

    def invoke() -> Result:
        runner = CliRunner()
        result = runner.invoke(app, list(args), input=input, env={**WIDE, **(env or {})})
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(result.exception))
        return Result(result.exit_code, result.stdout, stderr)

    with ThreadPoolExecutor(1, thread_name_prefix="ncm-cli") as pool:
        return pool.submit(invoke).result()


def ncm_json(*args: str, **kwargs: Any) -> Any:
    result = ncm(*args, "--json", **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def ncm_process(
    *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``ncm`` script (the real entry point) in a subprocess."""
    script = os.path.join(os.path.dirname(sys.executable), "ncm")
    return subprocess.run(
        [script, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **WIDE, **(env or {})},
        input=input,
        timeout=120,
    )
