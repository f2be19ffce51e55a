"""``make audit``: pip-audit over the hashed lock file, and a plain answer.

pip-audit reports a package it could not look up as "skipped" and still exits 0, and a
vulnerability service it cannot reach as a traceback. Here every outcome is one clear line:

* exit 0: every locked package was checked and none has a known vulnerability;
* exit 1: known vulnerabilities (listed);
* exit 2: NOT AUDITED: the service could not be reached, or some packages could not be
  looked up there (a private or offline index): nothing was proven, so this is a failure.

``AUDIT_SERVICE`` picks the database (``pypi``, the default, or ``osv``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def main() -> int:
    lock = sys.argv[1] if len(sys.argv) > 1 else "requirements.lock"
    service = os.environ.get("AUDIT_SERVICE", "pypi")
    tool = Path(sys.executable).with_name("pip-audit")
    command = [
        str(tool), "--disable-pip", "--require-hashes", "-r", lock, "-s", service,
        "-f", "json", "--progress-spinner", "off",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit: NOT AUDITED: pip-audit could not query the {service} vulnerability"
              f" database ({last[:300]})", file=sys.stderr)  # fmt: skip
        return 2
    packages = report.get("dependencies", [])
    skipped = [p for p in packages if p.get("skip_reason")]
    vulnerable = [p for p in packages if p.get("vulns")]
    for package in vulnerable:
        for vuln in package["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(f"{package['name']} {package['version']}: {vuln['id']} (fixed in {fixes})")
    if skipped:
        print(f"audit: NOT AUDITED: {len(skipped)} of {len(packages)} locked packages could not"
              f" be looked up in the {service} vulnerability database, e.g."
              f" {skipped[0]['skip_reason']}", file=sys.stderr)  # fmt: skip
        return 2
    if vulnerable:
        print(f"audit: {len(vulnerable)} of {len(packages)} packages have known vulnerabilities",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"audit: {len(packages)} packages checked against {service}: no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
