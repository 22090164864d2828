"""Adapters over the leaf packages: guardrails, prompts and RAG as pipeline stages and virtual
models. The leaves know nothing of the gateway; these modules translate between them."""
