"""Errors of a console write in one shape, whichever layer refused it: the API's serializer
(field paths, as the API names them) or a service (InvalidRequest with `fields`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.api_errors import flatten_errors

if TYPE_CHECKING:
    from rest_framework.serializers import Serializer

    from core.errors import ApplicationError


def serializer_fields(serializer: Serializer) -> dict[str, list[str]]:
    return flatten_errors(serializer.errors)


def error_fields(exc: ApplicationError) -> dict[str, list[str]]:
    fields = exc.extra.get("fields")
    if isinstance(fields, dict) and fields:
        return {str(k): [str(m) for m in v] for k, v in fields.items()}
    return {"non_field_errors": [exc.message]}
