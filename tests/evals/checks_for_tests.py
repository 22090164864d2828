"""Custom assertions used by tests (referenced by import path, as users would)."""


def has_greeting(output, ctx):
    return output.lower().startswith("hello")


def length_score(output, ctx):
    return min(1.0, len(output) / 20)


async def verdict(output, ctx):
    return {"pass": "ok" in output, "score": 0.9, "reason": "async check ran"}


def wrong_type(output, ctx):
    return "yes"


def crashes(output, ctx):
    raise KeyError("boom")
