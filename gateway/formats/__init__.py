"""Inbound wire formats other than OpenAI's chat completions, translated onto it.

Every model route runs the one pipeline over a chat-completions body (gateway/engine/pipeline.py),
so auth, admission, guardrails, cache, ledger and telemetry see one shape whichever API the client
speaks. A format module turns its request into that body, and the pipeline's completion or chunks
back into its own response, stream events and error shape. Pure functions and small state
machines: no I/O here.

- anthropic.py: Anthropic's Messages API (`/v1/messages`, `/v1/messages/count_tokens`)
- responses.py: OpenAI's Responses API (`/v1/responses`)
"""
