"""Log formats, chosen by TOLLGATE_LOG_FORMAT: `plain` (one readable line, the default) or
`json` (one JSON object per line, for log shippers).

A structured record carries `extra={"event": name, "fields": {...}}`; its message is the same
fields as `key=value` text (a `KeyValues`, rendered and redacted when formatted), so the plain
line reads as before. The JSON line holds `time`,
`level`, `logger`, `event` and the fields as keys; any other record has a `message`. String
values pass through the same redaction as every message (core/logging.py): a field can never
carry a secret out.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from core.logging import redact


class KeyValues:
    """A structured record's message, rendered when first asked for (the record factory's
    redaction pass, then each handler) and kept: the line is built and redacted once, as one
    text, not field by field each time (the request log line was 5-8% of a worker's CPU)."""

    __slots__ = ("_text", "fields")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = redact(
                " ".join(f"{key}={_text(value)}" for key, value in self.fields.items())
            )
        return self._text


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line["event"] = getattr(record, "event", "") or "log"
            for key, value in fields.items():
                line[key] = redact(value) if isinstance(value, str) else value
        else:
            line["message"] = redact(record.getMessage())
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()
