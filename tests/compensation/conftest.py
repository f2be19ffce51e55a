from __future__ import annotations

from collections.abc import Iterator

import pytest

from ncm.incidents import affected, detector, service


@pytest.fixture(autouse=True)
def fresh_incident_state() -> Iterator[None]:
    detector.reset()
    affected.forget_all()
    service.invalidate_status()
    yield
    detector.reset()
    affected.forget_all()
    service.invalidate_status()
