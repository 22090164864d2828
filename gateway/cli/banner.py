"""The few lines `sluice serve` prints on a terminal: where to call, what is served, where state lives.

Plain text, no colours: it is read once by a person starting the gateway, never parsed.
"""

from __future__ import annotations

from pathlib import Path

from gateway.config import Config


def _under(base: Path, path: str) -> Path:
    p = Path(path)
    return (p if p.is_absolute() else base / p).resolve()


def _ledger(cfg: Config) -> str:
    if not cfg.spend.enabled:
        return "off (spend.enabled: false)"
    led = cfg.spend.ledger
    if led.backend == "postgres":
        return f"PostgreSQL (${led.url_env})"
    return f"SQLite {_under(cfg.base_dir, led.path)}"


def _vectors(cfg: Config) -> str | None:
    if not cfg.rag.pipelines:
        return None
    sc = cfg.rag.store
    where = f"server {sc.host}:{sc.port}" if sc.mode == "server" else f"embedded {_under(cfg.base_dir, sc.path)}"
    return f"Chroma {where}"


def _cache(cfg: Config) -> str:
    if not cfg.cache.enabled:
        return "off"
    kinds = "exact + semantic" if cfg.cache.semantic.enabled else "exact"
    return f"{kinds} ({cfg.cache.backend})"


def _guardrails(cfg: Config) -> str:
    g = cfg.guardrails
    if not g.enabled or not (g.attach or g.default_policy):
        return "off (no policy attached)"
    parts = [f"{a.policy} on {', '.join(a.routes) or 'every route'}" for a in g.attach]
    if g.default_policy:
        parts.append(f"{g.default_policy} elsewhere")
    return "; ".join(parts)


def render(cfg: Config, host: str, port: int, version: str) -> str:
    chat = [m.name for m in cfg.models if m.mode == "chat"]
    embed = [m.name for m in cfg.models if m.mode == "embedding"]
    rows = [("models", ", ".join(chat) or "none")]
    if embed:
        rows.append(("embeddings", ", ".join(embed)))
    if cfg.rag.pipelines:
        rows.append(("RAG", ", ".join(f"rag:{n}" for n in cfg.rag.pipelines)))
    if cfg.prompts.enabled:
        rows.append(("prompts", f"{_under(cfg.base_dir, cfg.prompts.registry_dir)} (model: prompt:<name>@<label>)"))
    rows += [("cache", _cache(cfg)), ("guardrails", _guardrails(cfg)), ("ledger", _ledger(cfg))]
    vectors = _vectors(cfg)
    if vectors:
        rows.append(("vectors", vectors))
    if cfg.auth.enabled:
        rows.append(("auth", f"on: virtual keys required; admin APIs take ${cfg.auth.master_key_env}"))
    else:
        rows.append(("auth", ("off: anyone who can reach this address may call it; turn it on with "
                              f"`auth: {{enabled: true}}` and ${cfg.auth.master_key_env}")))
    width = max(len(k) for k, _ in rows)
    url = f"http://{host}:{port}"
    lines = [f"sluicegate {version}  {url}/v1  (ready when {url}/readyz says ok)"]
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)
