"""The finance report's HTML template (kept in Python so it ships without package-data rules)."""

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>sluicegate spend report</title>
<style>
 body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #222; background: #fff; }
 h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 16px; margin-top: 28px; border-bottom: 1px solid #ddd; }
 .meta { color: #666; font-size: 12px; }
 .cards { display: flex; gap: 16px; flex-wrap: wrap; margin-top: 12px; }
 .card { border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; min-width: 150px; }
 .card .v { font-size: 20px; font-weight: 600; } .card .l { font-size: 12px; color: #666; }
 table { border-collapse: collapse; font-size: 12px; margin-top: 8px; }
 th, td { border-bottom: 1px solid #eee; padding: 4px 8px; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
 .warn { color: #b00; } .empty { color: #888; font-style: italic; }
 .grid { display: flex; gap: 32px; flex-wrap: wrap; }
</style></head>
<body>
<h1>Spend report</h1>
<div class="meta">Period: {{ date(r.start) }} to {{ date(r.end) }}{% if r.team_id %} · team {{ r.team_id }}{% endif %}
 · generated {{ date(r.generated_at) }} · price tables: {{ r.price_versions | join(", ") or "—" }}</div>

<div class="cards">
 <div class="card">{% if r.totals.cost_usd is none %}<div class="v warn" id="total-cost" data-value="unpriced">unpriced</div>{% else %}<div class="v" id="total-cost" data-value="{{ '%.10f' % r.totals.cost_usd }}">${{ '%.2f' % r.totals.cost_usd }}</div>{% endif %}<div class="l">total spend (USD){% if r.totals.price_state == "partial" %}, at least: some requests are unpriced or partially priced{% endif %}</div></div>
 <div class="card"><div class="v" id="cost-per-1k">{% if r.totals.cost_per_1k_requests is none %}—{% else %}${{ '%.4f' % r.totals.cost_per_1k_requests }}{% endif %}</div><div class="l">cost per 1,000 requests</div></div>
 <div class="card"><div class="v" id="total-requests">{{ r.totals.requests }}</div><div class="l">requests</div></div>
 <div class="card"><div class="v">{{ r.totals.prompt_tokens + r.totals.completion_tokens }}</div><div class="l">tokens ({{ r.totals.prompt_tokens }} in / {{ r.totals.completion_tokens }} out)</div></div>
 <div class="card"><div class="v" id="cache-saved">${{ '%.2f' % r.totals.cost_saved_usd }}</div><div class="l">saved by the cache ({{ r.totals.cache_hits }} hits)</div></div>
 <div class="card"><div class="v {% if r.totals.unpriced_requests %}warn{% endif %}" id="unpriced">{{ r.totals.unpriced_requests }}</div><div class="l">unpriced requests</div></div>
 <div class="card"><div class="v {% if r.totals.partially_priced_requests %}warn{% endif %}" id="partially-priced">{{ r.totals.partially_priced_requests }}</div><div class="l">partially priced requests</div></div>
 <div class="card"><div class="v">{{ r.totals.errors }}</div><div class="l">errors</div></div>
</div>

<h2>Spend per day, by team</h2>
{{ day_chart }}

<div class="grid">
 <div><h2>Top models</h2>{{ models_chart }}</div>
 <div><h2>Top keys</h2>{{ keys_chart }}</div>
</div>

<h2>Spend by prompt version</h2>
{% if r.by_prompt %}<table id="prompts"><tr><th>prompt</th><th>release</th><th>requests</th><th>cost</th><th>per 1,000 requests</th></tr>
{% for p in r.by_prompt %}<tr><td>{{ p.prompt }}</td><td><code>{{ (p.prompt_hash or "")[:12] }}</code></td><td class="n">{{ p.requests }}</td><td class="n">{{ fmt("cost_usd", p.cost_usd) }}</td><td class="n">{{ fmt("cost_per_1k_requests", p.cost_per_1k_requests) }}</td></tr>{% endfor %}
</table>{% else %}<p class="empty">No request rendered a registered prompt.</p>{% endif %}

<h2>Budget burn (current period)</h2>
{{ burn_chart }}

<h2>Unpriced requests</h2>
{% if r.unpriced %}<p class="warn">These requests have no price: their cost is unknown, not zero. Add the model under <code>spend.prices</code>.</p>
<table><tr><th>model</th><th>requests</th><th>tokens</th></tr>
{% for u in r.unpriced %}<tr><td>{{ u.model }}</td><td class="n">{{ u.requests }}</td><td class="n">{{ u.tokens }}</td></tr>{% endfor %}
</table>{% else %}<p class="empty">None: every request was priced.</p>{% endif %}

<h2>Detail by {{ by | join(", ") }}</h2>
<table id="detail"><tr>{% for c in cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for c in cols %}<td{% if c not in by %} class="n"{% endif %}>{{ fmt(c, row.get(c)) }}</td>{% endfor %}</tr>{% endfor %}
</table>
</body></html>
"""
