"""A process's writer thread for tallies kept in memory by the request path.

The request path adds to an in-process tally (a dict under a lock: well under a microsecond)
and wakes this thread when the tally stops being empty; the thread waits `interval` seconds,
then writes everything out in one go (`flush`), off the event loop. A forked child starts its
own thread on its first wake-up; at exit the tally is written once more.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class PeriodicFlush:
    def __init__(self, flush: Callable[[], None], *, interval: float, name: str) -> None:
        self.flush, self.interval, self.name = flush, interval, name
        self._wake = threading.Event()
        self._threads: dict[int, threading.Thread] = {}  # pid -> its thread
        atexit.register(self._flush_quietly)

    def wake(self) -> None:
        """Something was tallied: write it out within `interval` seconds."""
        thread = self._threads.get(os.getpid())
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._threads[os.getpid()] = thread
            thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.interval)
            self._wake.clear()
            self._flush_quietly()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:  # the tallies are best effort; the thread must live on
            logger.exception("%s: writing the tally out failed", self.name)
