"""Small pure helpers on wire values: headers, header lookup, JSON bodies, ids, content.

Every adapter needs these the same way; none of them knows a particular wire format.
"""

import json
import uuid
from collections.abc import Mapping
from typing import Any

from llm.providers.contract import ProviderError

AUTH_STYLES = ("bearer", "x_api_key", "x_goog_api_key", "api_key_header", "none")


def auth_headers(auth_style: str, api_key: str | None) -> dict[str, str]:
    """The one place an upstream key enters a header. No key (or style `none`): no header."""
    if auth_style not in AUTH_STYLES:
        raise ValueError(f"unknown auth_style {auth_style!r}")
    if not api_key or auth_style == "none":
        return {}
    if auth_style == "bearer":
        return {"Authorization": f"Bearer {api_key}"}
    if auth_style == "x_api_key":
        return {"x-api-key": api_key}
    if auth_style == "x_goog_api_key":
        return {"x-goog-api-key": api_key}
    return {"api-key": api_key}


def request_headers(
    *, stream: bool, auth_style: str, api_key: str | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """JSON in; an event stream or JSON back; then the format's own headers, then the key."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }
    headers.update(extra or {})
    headers.update(auth_headers(auth_style, api_key))
    return headers


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup on any mapping (httpx.Headers or a plain dict)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def parse_json_body(body: bytes | str) -> dict[str, Any]:
    """Decode a 2xx body; anything but a JSON object is a `malformed` (retryable) failure."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        raise ProviderError(
            "upstream returned a malformed response body", kind="malformed", retryable=True
        )
    return payload


def new_id(prefix: str) -> str:
    """A fresh id in the style of its prefix (`call_`, `toolu_`, `chatcmpl-`) when none came."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`data:image/png;base64,....` -> (media type, base64 data); None for other URLs."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or ";base64" not in head:
        raise ProviderError(
            "image data URLs must be base64 encoded", kind="bad_request", retryable=False
        )
    media_type = head.split(";", 1)[0] or "application/octet-stream"
    return media_type, data


def text_of(content: Any) -> str:
    """The text of an OpenAI message `content` (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text")
        )
    return str(content)
