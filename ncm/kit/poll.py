"""One background poll loop for what a server process keeps in memory and refreshes from
Redis or the database (revoked sessions, partner API keys)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def every(
    seconds: float, step: Callable[[], Awaitable[None]], *, failing: str, log: logging.Logger
) -> None:
    """Run ``step`` now and then every ``seconds``, for the life of the task. A failed step
    (Redis or the database away for a moment) is logged as "could not ``failing``" and
    tried again at the next turn; what the caller holds stays as it was. Cancelling the
    task ends the loop, also when a client library turned the cancellation into an error."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            log.warning("could not %s", failing, exc_info=True)
        await asyncio.sleep(seconds)
