"""Render spend reports as a terminal table, CSV, JSON, or a self-contained HTML page with SVG charts."""

from __future__ import annotations

import csv
import datetime as dt
import io
from html import escape
from typing import Any

import orjson
from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from gateway.spend.reports import METRICS, NAMED, FinanceReport

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac"]


def columns(rows: list[dict[str, Any]], by: list[str]) -> list[str]:
    dims: list[str] = []
    for b in by:
        dims.append(b)
        if b in NAMED:
            dims.append(NAMED[b])
    return [*dims, *METRICS]


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) from a model
# name any client can send): OWASP's CSV-injection advice is to prefix such a cell with a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v


def to_csv(rows: list[dict[str, Any]], by: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns(rows, by), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: csv_cell(v) for k, v in r.items()})
    return buf.getvalue()


def to_json(rows: list[dict[str, Any]], by: list[str], meta: dict[str, Any] | None = None) -> str:
    return orjson.dumps({"by": by, "rows": rows, **(meta or {})}, option=orjson.OPT_INDENT_2).decode()


_TABLE_METRICS = ("requests", "prompt_tokens", "completion_tokens", "cost_usd", "cost_per_1k_requests", "price_state",
                  "unpriced_requests", "errors")


def to_table(rows: list[dict[str, Any]], by: list[str]) -> str:
    from rich.console import Console
    from rich.table import Table

    t = Table(show_lines=False)
    # a terminal is narrow: the table keeps the columns a person reads first (csv/json have them all)
    cols = [c for c in columns(rows, by) if c not in METRICS or c in _TABLE_METRICS]
    for c in cols:
        t.add_column(c, justify="right" if c in METRICS else "left")
    for r in rows:
        t.add_row(*[_fmt(c, r.get(c)) for c in cols])
    buf = io.StringIO()
    Console(file=buf, width=200, no_color=True).print(t)
    return buf.getvalue()


def _fmt(col: str, v: Any) -> str:
    if v is None:
        return "unpriced" if col in ("cost_usd", "cost_per_1k_requests") else "-"
    if col.endswith("_usd") or col == "cost_per_1k_requests":
        return f"{float(v):.6f}"
    return str(v)


# -- SVG charts --------------------------------------------------------------------------------
def stacked_bars_svg(rows: list[dict[str, Any]], x: str, stack: str, value: str = "cost_usd",
                     width: int = 760, height: int = 260) -> Markup:
    """Vertical bars per `x` (e.g. day), stacked by `stack` (e.g. team)."""
    xs = sorted({r[x] for r in rows if r[x] is not None})
    groups = sorted({str(r[stack]) for r in rows}, key=lambda g: -sum(r[value] for r in rows if str(r[stack]) == g))
    if not xs:
        return Markup('<p class="empty">No spend in this period.</p>')
    totals = {d: sum(r[value] for r in rows if r[x] == d) for d in xs}
    top = max(totals.values()) or 1.0
    pad_l, pad_b, pad_t = 60, 40, 10
    plot_h = height - pad_b - pad_t
    bw = max(4.0, (width - pad_l - 10) / len(xs) * 0.7)
    step = (width - pad_l - 10) / len(xs)
    legend_h = 20 * ((len(groups) + 3) // 4)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height + legend_h}" '
              f'role="img" aria-label="spend per {x} stacked by {stack}">'),
             f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 5}" y2="{pad_t + plot_h}" stroke="#333"/>',
             f'<text x="{pad_l - 6}" y="{pad_t + 10}" text-anchor="end" font-size="11">${top:.2f}</text>',
             f'<text x="{pad_l - 6}" y="{pad_t + plot_h}" text-anchor="end" font-size="11">$0</text>']
    for i, d in enumerate(xs):
        cx = pad_l + i * step + (step - bw) / 2
        y = pad_t + plot_h
        for gi, g in enumerate(groups):
            v = sum(r[value] for r in rows if r[x] == d and str(r[stack]) == g)
            if v <= 0:
                continue
            h = v / top * plot_h
            y -= h
            parts.append(f'<rect x="{cx:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[gi % len(PALETTE)]}" data-x="{escape(str(d))}" data-group="{escape(g)}" '
                         f'data-value="{v:.10f}"><title>{escape(str(d))} {escape(g)}: ${v:.4f}</title></rect>')
        if len(xs) <= 16 or i % max(1, len(xs) // 8) == 0:
            parts.append(f'<text x="{cx + bw / 2:.1f}" y="{pad_t + plot_h + 14}" text-anchor="middle" '
                         f'font-size="10">{escape(str(d)[5:] if x == "day" else str(d))}</text>')
    ly = height + 4
    for gi, g in enumerate(groups):
        lx = pad_l + (gi % 4) * 170
        yy = ly + (gi // 4) * 18
        parts.append(f'<rect x="{lx}" y="{yy - 10}" width="10" height="10" fill="{PALETTE[gi % len(PALETTE)]}"/>'
                     f'<text x="{lx + 14}" y="{yy}" font-size="11">{escape(g if g != "None" else "(no team)")}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars_svg(items: list[tuple[str, float, str]], *, width: int = 520, limit_marks: list[float] | None = None) -> Markup:
    """Horizontal bars: (label, value, text shown at the bar's end). Values are fractions of the max."""
    if not items:
        return Markup('<p class="empty">Nothing to show.</p>')
    row_h, pad_l = 22, 180
    top = max(max(v for _, v, _ in items), 1.0 if limit_marks else 0.0) or 1.0
    plot_w = width - pad_l - 90
    h = row_h * len(items) + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{h}" role="img">']
    for i, (label, v, text) in enumerate(items):
        y = 4 + i * row_h
        w = max(1.0, v / top * plot_w) if v > 0 else 0
        color = "#e15759" if limit_marks and v >= 1.0 else ("#f28e2b" if limit_marks and v >= 0.8 else "#4e79a7")
        parts.append(f'<text x="{pad_l - 6}" y="{y + 14}" text-anchor="end" font-size="11">{escape(label[:28])}</text>'
                     f'<rect x="{pad_l}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{color}" '
                     f'data-label="{escape(label)}" data-value="{v:.10f}"><title>{escape(label)}: {escape(text)}</title></rect>'
                     f'<text x="{pad_l + w + 4:.1f}" y="{y + 14}" font-size="11">{escape(text)}</text>')
    for m in limit_marks or []:
        x = pad_l + m / top * plot_w
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{h}" stroke="#999" stroke-dasharray="3,3"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _money(r: dict[str, Any]) -> str:
    if r["cost_usd"] is None:
        return f"unpriced ({r['requests']} requests)"
    text = f"${r['cost_usd']:.4f}"
    if r.get("unpriced_requests"):
        text += f" + {r['unpriced_requests']} unpriced"
    return text


def _named(r: dict[str, Any], dim: str) -> str:
    name = r.get(NAMED[dim])
    return f"{name} ({r[dim]})" if name else str(r[dim])


def _date(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if ts is not None else "—"


_env: Environment | None = None


def _environment() -> Environment:
    global _env
    if _env is None:
        _env = Environment(autoescape=select_autoescape(default_for_string=True))
    return _env


def to_html(report: FinanceReport, rows: list[dict[str, Any]], by: list[str]) -> str:
    day_rows = [{**r, "team": _named(r, "team") if r["team"] else None, "cost_usd": r["cost_usd"] or 0.0}
                for r in report.by_day_team]
    day_chart = stacked_bars_svg(day_rows, "day", "team")
    models = hbars_svg([(str(r["model"]), r["cost_usd"] or 0.0, _money(r)) for r in report.top_models])
    keys_chart = hbars_svg([(_named(r, "key"), r["cost_usd"] or 0.0, _money(r)) for r in report.top_keys])
    burn = hbars_svg([(f"{b.label} ({b.period})", b.fraction, f"{b.fraction:.0%} of ${b.limit_usd:.2f}")
                      for b in report.budgets], limit_marks=[0.8, 1.0])
    from gateway.spend.report_template import TEMPLATE

    return _environment().from_string(TEMPLATE).render(
        r=report, rows=rows, by=by, cols=columns(rows, by), fmt=_fmt, date=_date,
        day_chart=day_chart, models_chart=models, keys_chart=keys_chart, burn_chart=burn,
    )
