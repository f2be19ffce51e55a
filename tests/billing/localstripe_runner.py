"""Run localstripe without its shared on-disk pickle (``/tmp/localstripe.pickle``).

localstripe saves its whole store to one fixed file on every write; two test runs on one
machine would share it and every write would pay for a full pickle. The tests (and the
billing bench) start it through this module instead:
``python tests/billing/localstripe_runner.py --port N --from-scratch``.
"""

from __future__ import annotations

from localstripe import resources, server


def main() -> None:
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    server.start()


if __name__ == "__main__":
    main()
