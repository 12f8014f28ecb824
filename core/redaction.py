"""The one redaction of secrets in text: log lines, upstream error messages, attempt notes.

Providers echo keys (whole or partly masked) in their error bodies, exceptions carry URLs and
headers, and a log line may format either. Everything that could reach a log, a client, a usage
event or a task result goes through `redact`, which keeps the shape of what it cuts
(`sk-***`, `Bearer ***`, `x-api-key: ***`, `?key=***`) so the text still says what was there.
Pure Python: the provider adapters (no Django) use it too.
"""

import re
from collections.abc import Iterable

MASK = "***"
_MIN_KNOWN_SECRET = 6  # shorter known values are too likely to be ordinary words

# (pattern, replacement); a pattern with a group keeps group 1 (the label) and masks the rest.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Name = value pairs: headers, JSON fields, query parameters, Python reprs of headers.
    (
        re.compile(
            r"(?i)((?:x-api-key|x-goog-api-key|api[_-]?key|access[_-]?token|client[_-]?secret)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',&;}]{4,}"
        ),
        rf"\1{MASK}",
    ),
    (
        re.compile(r"(?i)([?&](?:key|api_key|api-key|apikey|access_token|token)=)[^&\s\"'#]+"),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9_\-.~+/=*]{8,}"), rf"\1{MASK}"),
    # Key shapes wherever they stand (also partly masked echoes such as sk-proj-****Xk9Q).
    (re.compile(r"\b(sk-(?:ant-)?)[A-Za-z0-9_\-*.]{3,}"), rf"\1{MASK}"),
    (re.compile(r"\bAIza[0-9A-Za-z_\-*.]{6,}"), f"AIza{MASK}"),
    (re.compile(r"\btg_[A-Za-z0-9_\-*]{8,}"), f"tg_{MASK}"),
    (re.compile(r"\b(?:gsk|xai|pplx|fw|csk|hf|r8|nvapi)[-_][A-Za-z0-9_\-]{8,}"), MASK),
]


# Every pattern above matches only text holding one of these (case-folded): text with none of
# them is returned as it is, without the seven regular-expression passes (the request log line,
# every request, has none; the passes were ~2% of a worker's CPU).
_MARKERS = (
    "key",
    "token",
    "secret",
    "bearer",
    "sk-",
    "aiza",
    "tg_",
    *(
        f"{prefix}{sep}"
        for prefix in ("gsk", "xai", "pplx", "fw", "csk", "hf", "r8", "nvapi")
        for sep in "-_"
    ),
)


def redact(text: str, *, secrets: Iterable[str] = ()) -> str:
    """`text` without anything shaped like a key, nor any of `secrets` (known values, such as
    the key an upstream call was made with: a self-hosted model's key may have any shape)."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_KNOWN_SECRET:
            text = text.replace(secret, MASK)
    folded = text.casefold()  # as the patterns' (?i): the Kelvin sign is k, the long s is s
    if not any(marker in folded for marker in _MARKERS):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
