"""Request bodies of the benchmark's workloads, written as files for wrk (post.lua) and curl.

Usage: python bench/workloads.py OUT_DIR MODEL [MODEL ...]
Writes OUT_DIR/<workload>-<mode>-<model>.json for every workload, mode and model, and prints
one `WORKLOAD` line per workload with its size. The text is generated from a fixed seed, so
every run (and every target in a run) sends the same bytes.

- tiny: the 70-character prompt of the earlier runs (a system line and one short question);
- rag: a question over ~30,000 characters of retrieved context in the user message;
- conversation: 40 turns with 8 tool definitions, tool calls and JSON tool results;
- stream500: a tiny prompt whose answer the mock streams as 500 content chunks (the marker
  below selects the mock's 500-chunk SSE file; streaming only).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

STREAM500_MARKER = "[bench:stream500]"
RAG_CONTEXT_CHARS = 30_000
CONVERSATION_TURNS = 40
# Workload -> the modes it is measured in (a 500-chunk answer only exists as a stream).
MODES = {
    "tiny": ("plain", "stream"),
    "rag": ("plain", "stream"),
    "conversation": ("plain", "stream"),
    "stream500": ("stream",),
}
VOCABULARY = (
    "account invoice region renewal margin churn quarter forecast customer contract "
    "supplier shipment warehouse latency deployment incident review policy budget tenant "
    "request model router cache token settlement ledger export rollup audit schedule team "
    "north south growth decline because although however therefore increased reduced "
    "within across during after before the a of to and in for with on by"
)
WORDS = VOCABULARY.split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    return " ".join(words).capitalize() + "."


def _prose(rng: random.Random, chars: int) -> str:
    parts: list[str] = []
    size = 0
    while size < chars:
        parts.append(_sentence(rng))
        size += len(parts[-1]) + 1
    return " ".join(parts)[:chars]


def _tiny() -> list[dict]:
    return [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello in one short sentence."},
    ]


def _rag(rng: random.Random) -> list[dict]:
    """Retrieved passages pasted into the user message, as RAG pipelines send them."""
    passages: list[str] = []
    size = 0
    n = 0
    while size < RAG_CONTEXT_CHARS:
        n += 1
        text = f"[doc {n}] source: kb/article-{1000 + n}.md\n{_prose(rng, 900)}"
        passages.append(text)
        size += len(text) + 2
    context = "\n\n".join(passages)[:RAG_CONTEXT_CHARS]
    question = "Using only the context above, why did the north region's margin fall?"
    return [
        {"role": "system", "content": "Answer from the provided context; cite the doc numbers."},
        {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"},
    ]


TOOL_NAMES = (
    "search_invoices",
    "get_customer",
    "list_contracts",
    "get_shipment",
    "run_report",
    "lookup_policy",
    "get_budget",
    "create_ticket",
)


def _tools() -> list[dict]:
    return [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": f"{name.replace('_', ' ').capitalize()} in the tenant's records.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "Free-text filter."},
                        "region": {"type": "string", "enum": ["north", "south", "east", "west"]},
                        "since": {"type": "string", "format": "date"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    "required": ["query"],
                },
            },
        }
        for name in TOOL_NAMES
    ]


def _conversation(rng: random.Random) -> list[dict]:
    """40 turns in rounds of four: user question, assistant tool call, tool result (JSON),
    assistant answer; then the final user question."""
    messages: list[dict] = [{"role": "system", "content": "You are a careful analyst."}]
    for turn in range(CONVERSATION_TURNS):
        kind = turn % 4
        if kind == 0:
            messages.append({"role": "user", "content": _prose(rng, 300)})
        elif kind == 1:
            arguments = json.dumps({"query": _sentence(rng), "region": "north", "limit": 20})
            call = {"name": TOOL_NAMES[turn % len(TOOL_NAMES)], "arguments": arguments}
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": f"call_{turn}", "type": "function", "function": call}],
                }
            )
        elif kind == 2:
            rows = [
                {
                    "id": 4000 + turn * 10 + i,
                    "amount": f"{rng.uniform(10, 9000):.2f}",
                    "note": _sentence(rng),
                }
                for i in range(6)
            ]
            result = json.dumps({"rows": rows, "total": len(rows)})
            messages.append({"role": "tool", "tool_call_id": f"call_{turn - 1}", "content": result})
        else:
            messages.append({"role": "assistant", "content": _prose(rng, 500)})
    messages.append({"role": "user", "content": "Summarise what we found in three bullet points."})
    return messages


def _stream500() -> list[dict]:
    return [{"role": "user", "content": f"{STREAM500_MARKER} Tell me a long story."}]


def messages_of(workload: str) -> list[dict]:
    rng = random.Random(16)
    builders = {
        "tiny": _tiny,
        "rag": lambda: _rag(rng),
        "conversation": lambda: _conversation(rng),
        "stream500": _stream500,
    }
    return builders[workload]()


def body(*, workload: str, mode: str, model: str) -> bytes:
    """The request body of one workload, in compact JSON (what an SDK sends)."""
    payload: dict = {"model": model, "messages": messages_of(workload), "max_tokens": 64}
    if workload == "conversation":
        payload["tools"] = _tools()
    if workload == "stream500":
        payload["max_tokens"] = 1024
    if mode == "stream":
        payload["stream"] = True
    return json.dumps(payload, separators=(",", ":")).encode()


def main() -> None:
    out = Path(sys.argv[1])
    models = sys.argv[2:] or ["gpt-4o-mini"]
    out.mkdir(parents=True, exist_ok=True)
    for workload, modes in MODES.items():
        for mode in modes:
            for model in models:
                (out / f"{workload}-{mode}-{model}.json").write_bytes(
                    body(workload=workload, mode=mode, model=model)
                )
        size = len(body(workload=workload, mode=modes[0], model=models[0]))
        text = sum(len(m.get("content") or "") for m in messages_of(workload))
        print(f"WORKLOAD {workload} modes={','.join(modes)} body_bytes={size} message_chars={text}")


if __name__ == "__main__":
    main()
