"""Spend: virtual keys, rate limits, budgets, pricing, the ledger and finance reports.

gateway.config imports this package's config module, so nothing heavy is imported here.
Modules: config (AuthConfig, SpendConfig), pricing, tokens, schema + migrations/ + db, ledger
(spooled writer), rows, keystore, limits (memory/Redis counters, RPM/TPM), budgets, alerts,
reports + reports_render, service (SpendService), reserve (a request's worst case), hook (AuthHook, AdmissionHook, SpendHook).
"""

from gateway.spend.config import AuthConfig, SpendConfig

__all__ = ["AuthConfig", "SpendConfig"]
