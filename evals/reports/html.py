"""A self-contained HTML report (no external assets), rendered with autoescaping Jinja2."""

from __future__ import annotations

import time

from jinja2 import Environment, select_autoescape

from evals.reports.baseline import Comparison
from evals.results import RunResult

_ENV = Environment(autoescape=select_autoescape(default=True))
_TEMPLATE = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>eval {{ r.suite }}: {{ r.status }}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222} table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top} th{background:#f4f4f4}
.passed{color:#176b2c}.failed{color:#b00020}.error{color:#a66300} pre{white-space:pre-wrap;margin:0;max-width:60em}
.bar{display:inline-block;height:10px;background:#4caf50} .bar.bad{background:#e57373}
</style></head><body>
<h1>{{ r.suite }} <span class="{{ r.status }}">{{ r.status }}</span></h1>
<p>Target <code>{{ r.target.ref }}</code> ({{ r.target.content_hash[7:19] }}), dataset {{ r.dataset_hash[7:19] }},
mode {{ r.mode }}, {{ '%.1f'|format(r.duration_s) }} s, run {{ started }}{% if r.git_commit %}, git {{ r.git_commit[:10] }}{% endif %}.
Model calls {{ r.stats.model_calls }}, cached {{ r.stats.cache_hits }}, replayed {{ r.stats.replayed }}{% if r.stats.cost_usd %}, cost ${{ '%.6f'|format(r.stats.cost_usd) }}{% endif %}.</p>
{% if r.error %}<p class="error">Could not run: {{ r.error }}</p>{% endif %}
<p>Pass rate <b>{{ '%.1f'|format(100 * r.scores.pass_rate) }}%</b> (95% CI {{ '%.1f'|format(100 * r.pass_rate_ci[0]) }}–{{ '%.1f'|format(100 * r.pass_rate_ci[1]) }}%){% if r.repeats > 1 %},
pass@{{ r.repeats }} {{ '%.1f'|format(100 * r.scores.pass_at_k) }}%, pass^{{ r.repeats }} {{ '%.1f'|format(100 * r.scores.pass_hat_k) }}%{% endif %}</p>
<h2>Thresholds and metrics</h2>
<table><tr><th>metric</th><th>value</th><th>min</th><th>max</th><th></th></tr>
{% for c in r.thresholds %}<tr><td>{{ c.metric }}</td><td>{{ fmt(c.value) }}</td><td>{{ fmt(c.min) }}</td><td>{{ fmt(c.max) }}</td>
<td class="{{ 'passed' if c.passed else 'failed' }}">{{ 'pass' if c.passed else 'FAIL' }}</td></tr>{% endfor %}
{% for name, m in r.metrics|dictsort %}{% if name not in thresholded %}<tr><td>{{ name }}</td><td>{{ fmt(m.mean) }}</td><td></td><td></td><td></td></tr>{% endif %}{% endfor %}
</table>
{% if cmp %}<h2>Against {{ cmp.baseline_label }}</h2>
{% for w in cmp.warnings %}<p class="failed">warning: {{ w }}</p>{% endfor %}
<table><tr><th>change</th><th>kind</th><th>name</th><th>before</th><th>after</th></tr>
{% for c in cmp.regressions %}<tr><td class="failed">regression</td><td>{{ c.kind }}</td><td>{{ c.name }}</td><td>{{ fmt(c.before) }}</td><td>{{ fmt(c.after) }}</td></tr>{% endfor %}
{% for c in cmp.improvements %}<tr><td class="passed">improvement</td><td>{{ c.kind }}</td><td>{{ c.name }}</td><td>{{ fmt(c.before) }}</td><td>{{ fmt(c.after) }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Trials</h2>
<table><tr><th>case</th><th>result</th><th>score</th><th>latency</th><th>assertions</th><th>output</th></tr>
{% for t in r.trials %}<tr><td>{{ t.case_id }}{% if r.repeats > 1 %}#{{ t.repeat }}{% endif %}</td>
<td class="{{ 'passed' if t.passed else 'failed' }}">{{ 'pass' if t.passed else ('error' if t.error else 'fail') }}</td>
<td><span class="bar {{ '' if t.passed else 'bad' }}" style="width:{{ (60 * (t.score or 0))|int }}px"></span> {{ fmt(t.score) }}</td>
<td>{{ fmt(t.latency_ms) }} ms</td>
<td>{% if t.error %}{{ t.error }}{% endif %}{% for a in t.assertions %}<div class="{{ 'passed' if a.passed else 'failed' }}">{{ a.name }}: {{ a.reason }}</div>{% endfor %}</td>
<td><pre>{{ t.output }}</pre></td></tr>{% endfor %}
</table></body></html>
""")


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.4g}"


def to_html(result: RunResult, comparison: Comparison | None = None) -> str:
    return _TEMPLATE.render(r=result, cmp=comparison, fmt=_fmt,
                            thresholded={c.metric for c in result.thresholds},
                            started=time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(result.started)))
