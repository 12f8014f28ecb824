"""Count every SQL statement the process runs, on every thread and connection.

Django's `CaptureQueriesContext` sees one connection; the gateway loads keys on worker threads
(sync_to_async), each with its own connection. Patching the cursor wrapper class sees them all.
"""

import contextlib
from collections.abc import Iterator

from django.db.backends import utils as db_utils


@contextlib.contextmanager
def all_queries() -> Iterator[list[str]]:
    """Yields the list that fills with each statement run inside the block."""
    statements: list[str] = []
    execute, executemany = db_utils.CursorWrapper.execute, db_utils.CursorWrapper.executemany

    def counting_execute(self, sql, params=None):
        statements.append(sql)
        return execute(self, sql, params)

    def counting_executemany(self, sql, param_list):
        statements.append(sql)
        return executemany(self, sql, param_list)

    db_utils.CursorWrapper.execute = counting_execute
    db_utils.CursorWrapper.executemany = counting_executemany
    try:
        yield statements
    finally:
        db_utils.CursorWrapper.execute = execute
        db_utils.CursorWrapper.executemany = executemany
