"""What the adapter tests share: the recorded wire fixtures, feeding a stream parser in chosen
slices, and folding its OpenAI chunks back into one answer."""

import random
from pathlib import Path

WIRE = Path(__file__).parent / "fixtures" / "wire"


def feed(parser, data: bytes, sizes) -> list[dict]:
    """The chunks a parser gives for `data` fed in slices of `sizes` (and then the rest)."""
    chunks, position = [], 0
    for size in sizes:
        chunks += parser.feed(data[position : position + size])
        position += size
    return chunks + parser.feed(data[position:])


def split_sizes(split: str, data: bytes, *, seed: int, most: int) -> list[int]:
    """Slices for `feed`: the whole stream, byte by byte, or seeded random slices up to `most`."""
    sizes = {"whole": [len(data)], "bytes": [1] * len(data)}.get(split)
    if sizes is None:
        rng = random.Random(seed)
        sizes = [rng.randint(1, most) for _ in range(len(data))]
    return sizes


def assemble(chunks: list[dict]) -> dict:
    """The streamed answer as a client would put it together: text, tool calls by index,
    the last finish reason and every role announced."""
    content, calls, finish, roles = "", {}, None, []
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            if "role" in delta:
                roles.append(delta["role"])
            content += delta.get("content") or ""
            for call in delta.get("tool_calls") or ():
                slot = calls.setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
            finish = choice["finish_reason"] or finish
    return {"content": content, "tool_calls": calls, "finish_reason": finish, "roles": roles}
