"""Mock upstream LLM servers: real HTTP on 127.0.0.1 speaking one wire format exactly.

`MockUpstream(wire_format)` serves one of `WIRE_FORMATS` (server.py); tests script the
behaviours below (behaviours.py) and read back `RecordedRequest`s. Each wire format is one class
behind the `Wire` interface (wire.py): openai_wire.py, anthropic_wire.py, gemini_wire.py.
"""

from tests.support.mock_upstreams.behaviours import (
    AuthError,
    Behaviour,
    ContextLengthExceeded,
    EchoKey,
    Malformed,
    NotFound,
    Ok,
    OutOfCredit,
    RateLimited,
    RecordedRequest,
    ServerError,
    Slow,
    TruncatedStream,
)
from tests.support.mock_upstreams.server import WIRE_FORMATS, MockUpstream

__all__ = [
    "WIRE_FORMATS",
    "AuthError",
    "Behaviour",
    "ContextLengthExceeded",
    "EchoKey",
    "Malformed",
    "MockUpstream",
    "NotFound",
    "Ok",
    "OutOfCredit",
    "RateLimited",
    "RecordedRequest",
    "ServerError",
    "Slow",
    "TruncatedStream",
]
