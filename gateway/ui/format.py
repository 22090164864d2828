"""Money with adaptive precision: small amounts keep their significant digits ($0.000046, not $0.00)."""

from __future__ import annotations

from decimal import Decimal


def usd(value: float | None) -> str:
    if value is None:
        return "unpriced"
    v = float(value)
    if v == 0:
        return "$0.00"
    a = abs(v)
    if a >= 0.01:
        return f"{'-' if v < 0 else ''}${a:,.2f}"
    # two significant digits below a cent, up to ten decimals (the ledger rounds to 1e-10)
    d = Decimal(repr(a))
    places = min(10, max(2, -d.adjusted() + 1))
    text = f"{a:.{places}f}".rstrip("0")
    if text.endswith("."):
        text += "00"
    return f"{'-' if v < 0 else ''}${text}"
