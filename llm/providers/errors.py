"""Upstream failures classified from status and body, with keys redacted from the message."""

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from core.redaction import redact as redact_secrets
from llm.providers.contract import ProviderError
from llm.providers.wire_helpers import header

MAX_MESSAGE_CHARS = 500


def redact(text: str) -> str:
    """Strip anything that looks like a key (core/redaction.py: the one redaction, also the
    logs'): providers echo (partial) keys in error messages. Long messages are cut."""
    text = redact_secrets(text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "..."
    return text


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date."""
    ms = header(headers, "retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = header(headers, "retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def classify_status(status: int) -> tuple[str, bool]:
    """(kind, retryable) from the HTTP status alone; adapters refine 400s from the body."""
    if status == 429:
        return "rate_limit", True
    if status == 408 or status >= 500:  # 529 is Anthropic's "overloaded"
        return "server", True
    if status in (401, 403):
        return "auth", True  # the gateway moves on to the next model, never the same key
    return "bad_request", False


def make_error(
    *,
    status: int,
    message: str | None,
    headers: Mapping[str, str],
    context_length: bool = False,
    auth: bool = False,
    quota: bool = False,
    retry_after: float | None = None,
) -> ProviderError:
    """The one ProviderError of an HTTP failure: status class, refined by the adapter's reading."""
    kind, retryable = classify_status(status)
    if context_length and status < 500:
        kind, retryable = "context_length", True
    elif auth and status < 500:
        kind, retryable = "auth", True
    elif quota and status < 500:
        kind, retryable = "quota", True
    text = redact(f"upstream HTTP {status}: {message}" if message else f"upstream HTTP {status}")
    if retry_after is None:
        retry_after = parse_retry_after(headers)
    return ProviderError(
        text, status=status, kind=kind, retryable=retryable, retry_after=retry_after
    )


def unsupported(message: str) -> ProviderError:
    """The request cannot be expressed in this wire format (the client must change it)."""
    return ProviderError(message, kind="bad_request", retryable=False)
