from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def ncm(
    *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `ncm` command against the test database (a subprocess: its own loop)."""
    return subprocess.run(
        [sys.executable, "-m", "ncm.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "240", **(env or {})},
        input=input,
        timeout=120,
    )


def ncm_json(*args: str, **kwargs: Any) -> Any:
    result = ncm(*args, "--json", **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)
