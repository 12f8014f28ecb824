"""Gateway tasks that outlive their response (a request shielded from its client, a budget
settlement, a stream pump), kept so a graceful stop can wait for them."""

import asyncio
from collections.abc import Coroutine
from typing import Any

_background: set[asyncio.Task] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


async def background_wait(*, timeout: float) -> None:
    """Let this loop's gateway tasks (requests and settlements in flight) finish: graceful stop."""
    loop = asyncio.get_running_loop()
    pending = [task for task in _background if task.get_loop() is loop and not task.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
