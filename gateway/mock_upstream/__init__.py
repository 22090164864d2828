"""An OpenAI- and Anthropic-format mock upstream with fault injection (raw asyncio + httptools).

Routes: chat completions, embeddings, models and the Responses API (OpenAI); messages and
messages/count_tokens (Anthropic). Answers are deterministic functions of the request.

`sluice mock-upstream --port N` calls `run`; tests use `MockUpstream` (a background thread on a free
port); `serve` starts one inside a running event loop.
"""

from gateway.mock_upstream.config import FAULTS, MockConfig
from gateway.mock_upstream.harness import MockUpstream
from gateway.mock_upstream.server import MockServer, run, serve

__all__ = ["FAULTS", "MockConfig", "MockServer", "MockUpstream", "run", "serve"]
