"""Database helpers the apps' services share: one place for how a write races and how an
executor thread keeps its connection healthy."""

from typing import TypeVar

from django.db import IntegrityError, close_old_connections, connection, models, transaction

from core.errors import Conflict

M = TypeVar("M", bound=models.Model)


def connection_refresh() -> None:
    """Executor threads live outside Django's request cycle: drop a broken or expired database
    connection here as request_started would (never inside a transaction)."""
    if not connection.in_atomic_block:
        close_old_connections()


def save_or_conflict(*, instance: M, conflict: str) -> M:
    """Validate and save; a unique index that a concurrent save won first is a 409 `conflict`
    (full_clean checks uniqueness too, but only a moment before the insert)."""
    instance.full_clean()
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise Conflict(conflict) from exc
    return instance
