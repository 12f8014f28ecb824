"""The console log handler: the lines logged during one turn of an event loop go out in one write.

A web worker logs one line per request, and a plain `StreamHandler` writes (and flushes) each
line on its own: one system call per request, ~2-4% of a worker's CPU under load
(bench/README.md). Here a line logged on a running event loop is kept and written at the end of
that turn, with every other line of the turn, in the order logged; a line logged anywhere else
(a thread of a sync view, a management command, a Celery task) is written at once, as before.
Nothing waits longer than the turn, and `flush()` (called by `logging.shutdown` at exit, and on a
graceful worker stop) writes whatever is still kept.
"""

from __future__ import annotations

import asyncio
import logging
import traceback


class TurnBufferedStreamHandler(logging.StreamHandler):
    terminator = "\n"

    def __init__(self, stream=None) -> None:
        super().__init__(stream)
        self._kept: list[str] = []
        self._write_on: asyncio.AbstractEventLoop | None = None  # the loop a write is due on

    def emit(self, record: logging.LogRecord) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            super().emit(record)
            return
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._kept.append(line + self.terminator)  # Handler.handle holds self.lock here
        if self._write_on is not loop:  # none due yet, or due on a loop that has stopped
            self._write_on = loop
            loop.call_soon(self._write_kept)

    def flush(self) -> None:
        self._write_kept()
        super().flush()

    def _write_kept(self) -> None:
        with self.lock:
            self._write_on = None
            kept, self._kept = self._kept, []
            if not kept:
                return
            try:
                self.stream.write("".join(kept))
                self.stream.flush()
            except Exception:  # as StreamHandler.emit: a broken stream must not break the app
                if logging.raiseExceptions:
                    traceback.print_exc()
