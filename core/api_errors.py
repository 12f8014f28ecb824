"""The management API's exception handler: every error in the contract's shape.

`{"error": {"message", "type", "code"}}`, and for validation errors also `fields`: a flat map of
field path (`rules[2].route.split[0].model`) to messages. Unknown errors are logged and become a
generic 500 body, never a stack trace.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import ApplicationError

logger = logging.getLogger("tollgate.api")

_DRF_CODES: list[tuple[type[exceptions.APIException], str, str]] = [
    (exceptions.NotAuthenticated, "invalid_api_key", "authentication_error"),
    (exceptions.AuthenticationFailed, "invalid_api_key", "authentication_error"),
    (exceptions.PermissionDenied, "permission_denied", "permission_error"),
    (exceptions.NotFound, "not_found", "invalid_request_error"),
    (exceptions.MethodNotAllowed, "method_not_allowed", "invalid_request_error"),
    (exceptions.NotAcceptable, "not_acceptable", "invalid_request_error"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type", "invalid_request_error"),
    (exceptions.Throttled, "rate_limited", "rate_limit_error"),
    (exceptions.ParseError, "invalid_request", "invalid_request_error"),
]


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail -> {"a.b[0].c": ["message", ...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for raw_key, value in detail.items():
            key = str(raw_key)
            if key in ("non_field_errors", "__all__"):
                path = prefix or "non_field_errors"
            elif isinstance(raw_key, int) or key.isdigit():
                path = f"{prefix}[{key}]"
            elif key.startswith("[") or not prefix:
                path = f"{prefix}{key}"
            else:
                path = f"{prefix}.{key}"
            for sub_path, messages in flatten_errors(value, path).items():
                out.setdefault(sub_path, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out.setdefault(prefix or "non_field_errors", []).extend(str(m) for m in detail)
        else:
            for index, item in enumerate(detail):
                if item in ({}, []):
                    continue
                if isinstance(item, dict | list):
                    for sub_path, messages in flatten_errors(item, f"{prefix}[{index}]").items():
                        out.setdefault(sub_path, []).extend(messages)
                else:
                    out.setdefault(prefix or "non_field_errors", []).append(str(item))
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return out


def validation_body(fields: dict[str, list[str]], message: str | None = None) -> dict:
    if message is None:
        first_field, first_messages = next(iter(fields.items()), ("", ["Invalid request."]))
        message = (
            first_messages[0]
            if first_field in ("", "non_field_errors")
            else f"{first_field}: {first_messages[0]}"
        )
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "code": "invalid_request",
            "fields": fields,
        }
    }


def _error_body(message: str, code: str, type_: str) -> dict:
    return {"error": {"message": message, "type": type_, "code": code}}


def api_exception_handler(exc: Exception, context: dict) -> Response:
    if isinstance(exc, DjangoValidationError):
        exc = serializers.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApplicationError):
        set_rollback()
        body = exc.as_body()
        if exc.status == 400 and "fields" not in body["error"]:
            body["error"]["fields"] = {}
        return Response(body, status=exc.status, headers=exc.headers or None)

    if isinstance(exc, serializers.ValidationError):
        set_rollback()
        return Response(validation_body(flatten_errors(exc.detail)), status=400)

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        code, type_ = "invalid_request", "invalid_request_error"
        for cls, mapped_code, mapped_type in _DRF_CODES:
            if isinstance(exc, cls):
                code, type_ = mapped_code, mapped_type
                break
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else "Invalid request."
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        body = _error_body(message, code, type_)
        if exc.status_code == 400:
            body["error"]["fields"] = {}
        return Response(body, status=exc.status_code, headers=headers or None)

    # Unknown errors stay errors: logged with the traceback, a generic body for the client.
    view = context.get("view")
    logger.exception("Unhandled error in %s", type(view).__name__ if view else "API view")
    set_rollback()
    return Response(
        _error_body("Internal server error.", "internal_error", "server_error"), status=500
    )
