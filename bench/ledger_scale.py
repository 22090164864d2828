"""The spend ledger at scale: report sections over millions of raw rows, from the raw rows vs from the
daily rollups, on SQLite and PostgreSQL; storage of raw rows vs rollups, before and after retention;
and the ledger writer's rows/s with and without the rollup upsert (issue 21).

    nice -n 10 python bench/ledger_scale.py --rows 1000000            # iteration
    nice -n 10 python bench/ledger_scale.py --rows 10000000 --raw-runs 1

Protocol (written before scoring):
1. Generate `--rows` raw rows over `--days` (90) UTC days in time order, with realistic
   cardinalities: 50 teams, 2,000 keys (each of one team and user, Zipf-like activity, 1-3
   models each), 30 requested models (Zipf), 1-2 deployments per model over 6 providers, 200
   prompt versions (50 prompts x 4 versions; each key uses up to 2; ~40% of requests), 10 RAG
   pipelines (20% of keys use one, on half their requests), statuses 200/429/400/500 (96/2/1/1%), two price versions (a price change on
   day 45), ~1% unpriced, ~5% cache hits. Bulk load: SQLite executemany in one transaction per
   100k rows (synchronous=OFF during the load); PostgreSQL COPY. The rollups are built with the
   writer's own code (rollup.aggregate + its upsert) over the same chunks.
2. Each report section (the finance report's: totals, day x team, model, key, prompt x
   prompt_hash, unpriced models, price versions; and the CLI's default team x model, user, status,
   deployment x provider) over two ranges: all 90 days (whole days: rollups only) and a 30-day
   range with partial days at both edges (rollups + raw rows for the edges). Time: p50 of
   `--runs` (5) runs from the rollups, p50 of `--raw-runs` runs from the raw rows (the baseline,
   same process, same data), after one warm-up of each. Target <= 300 ms from the rollups.
3. Storage: the raw table with its indexes vs the rollup table with its index (SQLite: dbstat
   pages; PostgreSQL: pg_total_relation_size), then prune to `--keep-days` (30) with the
   retention code (batches of 10,000 rows) and measure again (SQLite: live pages, the file keeps
   its size until VACUUM; PostgreSQL after plain VACUUM: the space is reusable, not returned).
4. Writer: LedgerWriter record() -> committed rows/s for `--writer-rows` realistic rows, with the
   rollup upsert (now) and with the previous insert (no existence check, no rollups), alternating,
   p50 of 3 runs each.
Print `cat /proc/loadavg` beside the numbers: other processes share the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa

from gateway.spend import ledger as ledger_mod
from gateway.spend import rollup
from gateway.spend.db import make_engine, migrate
from gateway.spend.reports import ReportQuery, _unpriced_stmt, _versions_stmt, grouped
from gateway.spend.retention import prune
from gateway.spend.schema import ledger

DAY = 86_400
DAY0 = 1_756_684_800.0  # 2025-09-01T00:00:00Z
COLS = [str(c.name) for c in ledger.columns if c.name != "id"]
CHUNK = 100_000


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class World:
    """The fixed population of teams, keys, models, prompts the rows are drawn from."""

    def __init__(self, seed: int = 21) -> None:
        rnd = random.Random(seed)
        self.rnd = rnd
        providers = ["openai", "anthropic", "azure", "bedrock", "vertex", "mistral"]
        self.models = [f"model-{i:02d}" for i in range(30)]
        self.deployments: dict[str, list[tuple[str, str]]] = {}
        for m in self.models:
            self.deployments[m] = [(f"{p}/{m}-{j}", p) for j, p in enumerate(rnd.sample(providers, rnd.randint(1, 2)))]
        model_w = [1 / (i + 1) ** 1.1 for i in range(30)]
        prompts = [(f"prompt-{n:02d}@{v}", f"{rnd.getrandbits(256):064x}") for n in range(50) for v in range(1, 5)]
        self.keys = []
        for k in range(2000):
            team = f"team-{rnd.randrange(50):02d}"
            models = sorted(set(rnd.choices(self.models, model_w, k=rnd.randint(1, 3))))
            kp = rnd.sample(prompts, rnd.randint(0, 2))
            rag = f"rag-{rnd.randrange(10)}" if rnd.random() < 0.2 else None  # an app's pipeline
            self.keys.append((f"key-{k:04d}", team, f"user-{rnd.randrange(1000):04d}", models, kp, rag))
        self.key_w = [1 / (i + 1) ** 0.8 for i in range(2000)]

    def rows(self, n: int, days: int) -> Iterator[list[tuple[Any, ...]]]:
        """n raw rows as tuples in COLS order, in time order, CHUNK at a time."""
        rnd = self.rnd
        step = days * DAY / n
        made = 0
        while made < n:
            k = min(CHUNK, n - made)
            keys = rnd.choices(self.keys, self.key_w, k=k)
            out = []
            for i in range(k):
                j = made + i
                ts = DAY0 + j * step + rnd.random() * step
                key_id, team, user, models, kp, rag = keys[i]
                model = models[0] if len(models) == 1 else rnd.choice(models)
                dep, prov = rnd.choice(self.deployments[model])
                pr, ph = rnd.choice(kp) if kp and rnd.random() < 0.4 else (None, None)
                r = rnd.random()
                status = 200 if r < 0.96 else 429 if r < 0.98 else 400 if r < 0.99 else 500
                ok = status == 200
                p_tok = rnd.randint(50, 4000) if ok else 0
                c_tok = rnd.randint(10, 1000) if ok else 0
                hit = ok and rnd.random() < 0.05
                unpriced = model == "model-29"
                cost = None if unpriced else (0.0 if hit else round(p_tok * 2.5e-6 + c_tok * 1e-5, 10))
                day = time.strftime("%Y-%m-%d", time.gmtime(ts))
                out.append((
                    f"{j:032x}", f"req-{j:028x}", ts, day, "chat.completions", key_id, team, user, model, model,
                    dep, prov, model, pr, ph, False, rag if rag and rnd.random() < 0.5 else None,
                    "app,prod" if j % 3 else None, j % 2 == 0, p_tok, c_tok, p_tok // 4 if ok else 0, 0, 0,
                    "upstream", cost, unpriced, False, "litellm-1.0+cfg-a" if ts < DAY0 + 45 * DAY else
                    "litellm-1.0+cfg-b", 120.0 + rnd.random() * 900, status,
                    None if ok else f"http_{status}", "hit" if hit else "miss", 0.001 if hit else None,
                    None, False,
                ))
            made += k
            assert len(out[0]) == len(COLS)
            yield out


def load(engine: sa.Engine, world: World, n: int, days: int) -> tuple[float, float]:
    """Bulk-load raw rows and build their rollups with the writer's code. Returns (load s, rollup s)."""
    t_load = t_roll = 0.0
    sqlite = engine.dialect.name == "sqlite"
    upserts = [(rollup._upsert(engine.dialect.name, table), by) for table, by in rollup.ROLLUPS]
    done = 0
    for chunk in world.rows(n, days):
        t0 = time.perf_counter()
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            if sqlite:
                cur.execute("PRAGMA synchronous=OFF")
                cur.executemany(f"INSERT INTO spend_ledger ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))})",
                                chunk)
            else:
                with cur.copy(f"COPY spend_ledger ({', '.join(COLS)}) FROM STDIN") as cp:  # type: ignore[attr-defined]
                    for r in chunk:
                        cp.write_row(r)
            raw.commit()
        finally:
            raw.close()
        t1 = time.perf_counter()
        rows = [dict(zip(COLS, r, strict=True)) for r in chunk]
        with engine.begin() as conn:
            for upsert, by in upserts:
                groups = rollup.aggregate(rows, by)
                for i in range(0, len(groups), 5000):
                    conn.execute(upsert, groups[i : i + 5000])
        t_load += t1 - t0
        t_roll += time.perf_counter() - t1
        done += len(chunk)
        if done % 1_000_000 == 0:
            print(f"      loaded {done:,} rows ({t_load:.0f} s load, {t_roll:.0f} s rollups)", flush=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return t_load, t_roll


def sections(start: float | None, end: float | None) -> list[tuple[str, Callable[[sa.Engine, str], Any]]]:
    def g(*by: str) -> Callable[[sa.Engine, str], Any]:
        return lambda e, src: grouped(e, ReportQuery(start, end, list(by)), src)  # type: ignore[arg-type]

    def stmt(make: Callable[..., Any]) -> Callable[[sa.Engine, str], Any]:
        def run(e: sa.Engine, src: str) -> Any:
            with e.connect() as c:
                return c.execute(make(ReportQuery(start, end, []), src)).all()
        return run

    return [("totals", g()), ("day x team", g("day", "team")), ("model", g("model")), ("key", g("key")),
            ("prompt x hash", g("prompt", "prompt_hash")), ("unpriced", stmt(_unpriced_stmt)),
            ("price versions", stmt(_versions_stmt)), ("team x model", g("team", "model")), ("user", g("user")),
            ("status", g("status")), ("deployment x provider", g("deployment", "provider"))]


def p50(f: Callable[[], Any], runs: int) -> float:
    f()  # warm-up
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1000


def time_reports(engine: sa.Engine, days: int, runs: int, raw_runs: int) -> None:
    ranges = [("all days", None, None),
              ("30 d + edges", DAY0 + (days - 31) * DAY + 13 * 3600, DAY0 + (days - 1) * DAY + 18 * 3600)]
    for label, a, b in ranges:
        print(f"    range {label}: section, rollup-backed p50 ms, raw p50 ms, raw/rollup   (load {loadavg()})")
        for name, f in sections(a, b):
            t_roll = p50(functools.partial(f, engine, "auto"), runs)
            t_raw = p50(functools.partial(f, engine, "raw"), raw_runs) if raw_runs else float("nan")
            print(f"      {name:<22} {t_roll:9.1f} {t_raw:11.1f} {t_raw / t_roll:9.1f}x", flush=True)


def sizes(engine: sa.Engine) -> dict[str, float]:
    """MiB of the raw table (with its indexes) and of the rollups (with theirs)."""
    with engine.connect() as c:
        if engine.dialect.name == "sqlite":
            idx = {n: t for n, t in c.exec_driver_sql("SELECT name, tbl_name FROM sqlite_master WHERE type='index'")}
            out: dict[str, float] = {"spend_ledger": 0.0, "spend_ledger_daily": 0.0, "spend_ledger_daily_team": 0.0}
            for name, size in c.exec_driver_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
                t = idx.get(name, name)
                if t in out:
                    out[t] += size / 2**20
            pages, free, psize = (c.exec_driver_sql(f"PRAGMA {p}").scalar_one()
                                  for p in ("page_count", "freelist_count", "page_size"))
            out["file"] = pages * psize / 2**20
            out["live"] = (pages - free) * psize / 2**20
            return out
        return {t: c.exec_driver_sql(f"SELECT pg_total_relation_size('{t}')").scalar_one() / 2**20
                for t in ("spend_ledger", "spend_ledger_daily", "spend_ledger_daily_team")}


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as c:
        return int(c.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def storage_and_retention(engine: sa.Engine, days: int, keep: int) -> None:
    s = sizes(engine)
    raw_n, roll_n = count(engine, "spend_ledger"), count(engine, "spend_ledger_daily")
    team_n = count(engine, "spend_ledger_daily_team")
    print(f"    storage: raw {raw_n:,} rows {s['spend_ledger']:.0f} MiB ({s['spend_ledger'] * 2**20 / raw_n:.0f} B/row "
          f"with indexes); rollups: daily {roll_n:,} rows {s['spend_ledger_daily']:.1f} MiB "
          f"({raw_n / max(roll_n, 1):.1f} raw rows per rollup row), daily_team {team_n:,} rows "
          f"{s['spend_ledger_daily_team']:.1f} MiB" + (f"; file {s['file']:.0f} MiB" if "file" in s else ""))
    before = DAY0 + (days - keep) * DAY
    t0 = time.perf_counter()
    res = prune(engine, before, batch_rows=10_000)
    dt = time.perf_counter() - t0
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE spend_ledger")
    s2 = sizes(engine)
    live = f"; live pages {s2['live']:.0f} MiB of a {s2['file']:.0f} MiB file" if "live" in s2 else " (after VACUUM)"
    print(f"    retention to {keep} days: deleted {res.deleted:,} raw rows in {res.batches} batches, {dt:.0f} s "
          f"({res.deleted / dt:,.0f} rows/s); raw now {count(engine, 'spend_ledger'):,} rows "
          f"{s2['spend_ledger']:.0f} MiB{live}; rollups kept ({count(engine, 'spend_ledger_daily'):,} + "
          f"{count(engine, 'spend_ledger_daily_team'):,} rows)")


def _old_insert(engine: sa.Engine, rows: list[dict[str, Any]]) -> int:
    """The writer's insert before the rollups (commit 7f31a0d): ON CONFLICT DO NOTHING, nothing else."""
    with engine.begin() as conn:
        return max(conn.execute(ledger_mod._insert(engine, ledger, "row_id"), rows).rowcount, 0)


async def _writer_run(url: str, spool: Path, rows: list[dict[str, Any]]) -> float:
    engine = make_engine(url)
    w = ledger_mod.LedgerWriter(engine, spool, batch_size=500, flush_interval_s=0.05)
    await w.start()
    t0 = time.perf_counter()
    for r in rows:
        w.record(r)
    while w.backlog_bytes:
        await asyncio.sleep(0.01)
    await w.flush()
    dt = time.perf_counter() - t0
    await w.aclose()
    engine.dispose()
    return len(rows) / dt


def writer_cost(url: str, tmp: Path, n: int, world: World) -> None:
    engine = make_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("DELETE FROM spend_ledger")
        c.exec_driver_sql("DELETE FROM spend_ledger_daily")
        c.exec_driver_sql("DELETE FROM spend_ledger_daily_team")
    engine.dispose()
    new = ledger_mod._insert_bounded
    res: dict[str, list[float]] = {"with rollups": [], "before (no rollups)": []}
    for i in range(3):
        for label, impl in (("with rollups", new), ("before (no rollups)", _old_insert)):
            rows = [dict(zip(COLS, r, strict=True)) for r in next(world.rows(n, 1))]
            for r in rows:
                r["row_id"] = f"w{i}-{label[0]}-{r['row_id']}"
            ledger_mod._insert_bounded = impl  # type: ignore[assignment]
            try:
                res[label].append(asyncio.run(_writer_run(url, tmp / f"spool-{i}-{label[0]}", rows)))
            finally:
                ledger_mod._insert_bounded = new
    a, b = statistics.median(res["with rollups"]), statistics.median(res["before (no rollups)"])
    print(f"    writer {n:,} rows record() -> committed: with rollups {a:,.0f} rows/s, before {b:,.0f} rows/s "
          f"({a / b:.2f}x; runs {[round(x) for x in res['with rollups']]} vs {[round(x) for x in res['before (no rollups)']]})"
          f"  (load {loadavg()})")


def run_backend(label: str, url: str, args: argparse.Namespace, tmp: Path) -> None:
    print(f"\n[{label}] {args.rows:,} rows over {args.days} days  (load {loadavg()})", flush=True)
    engine = make_engine(url)
    migrate(engine)
    t_load, t_roll = load(engine, World(), args.rows, args.days)
    print(f"    bulk load {t_load:.0f} s ({args.rows / t_load:,.0f} rows/s); rollups with the writer's code {t_roll:.0f} s "
          f"({args.rows / t_roll:,.0f} rows/s)", flush=True)
    time_reports(engine, args.days, args.runs, args.raw_runs)
    storage_and_retention(engine, args.days, args.keep_days)
    print("    after retention (old whole days from the rollups only):")
    time_reports(engine, args.days, args.runs, 0)
    engine.dispose()
    if args.writer_rows:
        writer_cost(url, tmp, args.writer_rows, World(seed=5))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--raw-runs", type=int, default=3)
    ap.add_argument("--keep-days", type=int, default=30)
    ap.add_argument("--writer-rows", type=int, default=20_000)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--pg-url", default=os.environ.get("SLUICE_BENCH_PG_URL"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sluice-ledger-scale-"))
    try:
        if "sqlite" in args.backends:
            run_backend("sqlite", f"sqlite:///{tmp / 'ledger.db'}", args, tmp)
            (tmp / "ledger.db").unlink()
        if "postgres" in args.backends:
            if args.pg_url:
                run_backend("postgres", args.pg_url, args, tmp)
            else:
                from bench.spend_bench import temp_postgres

                # a server sized for 10 M rows (tests/services.py's way of starting one, own port)
                with temp_postgres(["-c", "shared_buffers=2GB", "-c", "work_mem=64MB", "-c", "max_wal_size=8GB",
                                    "-c", "maintenance_work_mem=512MB", "-c", "synchronous_commit=off"]) as url:
                    if url is None:
                        print("[postgres] skipped: PostgreSQL is not installed")
                    else:
                        run_backend("postgres", url, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
