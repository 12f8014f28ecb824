"""How a behaviour's text becomes wire text: word pieces for stream deltas, tool arguments as
JSON text cut in parts. Shared by the wire formats so their streams cut content alike."""

import hashlib
import json
import re


def word_pieces(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text) or [text]


def arguments_text(tool_call: dict) -> str:
    arguments = tool_call.get("arguments", {})
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def split_text(text: str, parts: int = 3) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic vector for `text`: each value k/128 for k in -128..127, exact in float32
    (so a base64 round trip gives the same numbers back)."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((byte - 128) / 128 for byte in digest)
        counter += 1
    return values[:dimensions]
