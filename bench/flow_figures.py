"""Flow figures benchmark: the staff flow pages' and the overview's walk figures over 100,000 walks.

    python bench/flow_figures.py [--walks 100000] [--database sqlite|postgresql|URL] [--repeat 20]

What it does:

1. Writes 12 flow files (about 5 shown steps each: questions, an info step, a resolved and an
   escalate end) into a temporary flows directory, and builds the database: SQLite in a temporary
   file, or a PostgreSQL bench database (default ``bench_figures`` on 127.0.0.1:5432; its ``public``
   schema is dropped and rebuilt, so a database whose name lacks "bench" is refused). Rows go in
   with Core executemany in batches: ``--walks`` walks over the last 120 days, more of them lately
   (a quarter of them in the last 30 days); flows by popularity (the busiest has about a quarter of
   all walks); each flow in 3 versions (the latest the most walked); each walk follows a path
   through its flow's steps and ends resolved (about 55%, a third of them answering "Did this
   help?"), escalated at the escalate step or by "I still need help" on a step (about 25%),
   given up (Start over, or no answer for 30 minutes; about 15%) or is still going; 1% are staff
   previews. Each walk has a realistic engine state (its trail as JSON, about 1 kB) and one
   ``walk_steps`` row per step it was shown or passed (about 4.5 per walk).
   PostgreSQL then gets ``VACUUM ANALYZE``; SQLite is left without ``ANALYZE``, as the portal leaves
   its embedded database.
2. Times the queries of each page (``portal.figures.queries``), ``--repeat`` times each after one
   untimed round, for two periods: the default (last 30 days) and the whole 120 days (every walk):
   - flows list: ``flow_figures`` over all flows;
   - flow page (the busiest flow, its current version): ``flow_figures``, ``version_figures``,
     ``step_figures``, ``answer_counts``, ``escalations_by_step``, ``feedback``;
   - overview: ``headline`` and ``top_problem_steps``.
3. If the staff flows pages exist (``authoring`` blueprint), signs a technician in and times the
   pages themselves through Flask's test client: ``/desk/flows``, ``/desk/flows/<busiest>`` and
   ``/desk/overview`` (the overview also reads the ticket tables, empty here).
4. Prints a Markdown report: median and p95 per page and per query, statements per page, the
   machine and the command. Exit status 1 when a page's p95 is over the aim (300 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from werkzeug.datastructures import MultiDict  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

AIM_MS = 300.0
BATCH = 5_000
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_figures"
PASSWORD = "flow figures bench"
DAYS = 120
NOW = datetime.now(UTC).replace(microsecond=0)
FLOWS = 12
TOPICS = ["printer", "wifi", "vpn", "password", "email", "monitor", "teams", "laptop-slow", "onedrive",
          "phone-setup", "bitlocker", "audio"]

FLOW_TEMPLATE = """id: {id}
title: "{title}"
summary: Bench flow {n}.
ticket: {{queue: general, priority: normal}}
start: first
steps:
  first:
    type: question
    title: What do you see?
    text: Look at the screen. **Which of these is it?** {rev}
    options:
      - label: It works sometimes
        next: check
      - label: An error message
        next: explain
      - label: Nothing at all
        next: stuck
  check:
    type: question
    text: Does restarting the app help?
    options:
      - label: "Yes"
        next: fixed
      - label: "No"
        next: retry
  explain:
    type: info
    title: Clear the cache
    text: Open the settings and clear the cache, then try again.
    next: retry
  retry:
    type: question
    text: Try once more. Does it work now?
    options:
      - label: "Yes"
        next: fixed
      - label: "No"
        next: stuck
  fixed:
    type: resolved
    text: Good, it works again.
  stuck:
    type: escalate
    text: A technician will look at it.
"""

#: Each path: the shown/passed steps (with the answer chosen at a question) and the end reached.
PATHS = [
    ([("first", "It works sometimes"), ("check", "Yes")], "fixed", 30),
    ([("first", "It works sometimes"), ("check", "No"), ("retry", "Yes")], "fixed", 15),
    ([("first", "An error message"), ("explain", None), ("retry", "Yes")], "fixed", 20),
    ([("first", "An error message"), ("explain", None), ("retry", "No")], "stuck", 12),
    ([("first", "It works sometimes"), ("check", "No"), ("retry", "No")], "stuck", 8),
    ([("first", "Nothing at all")], "stuck", 15),
]


def _pick(rng: random.Random, items: list, weights: list):
    return rng.choices(items, weights)[0]


def write_flows(directory: Path) -> list:
    ids = []
    for n, topic in enumerate(TOPICS[:FLOWS], start=1):
        flow_id = f"bench-{topic}"
        (directory / f"{flow_id}.yaml").write_text(FLOW_TEMPLATE.format(
            id=flow_id, title=f"Bench: {topic.replace('-', ' ')} trouble", n=n, rev=""))
        ids.append(flow_id)
    return ids


def _trail(flow_id: str, steps: list, at: str) -> list:
    entries = []
    for step, answer in steps:
        entry = {"flow": flow_id, "step": step, "type": "question" if answer else "info", "at": at,
                 "title": "A step title", "text": "Look at the screen and choose what you see there, please. " * 3,
                 "answer": answer or "Continue"}
        if answer:
            entry["value"] = answer
        entries.append(entry)
    return entries


def build(app, n: int, seed: int) -> dict:
    """Fill the database; returns what the timing needs (flows, busiest flow, its current version)."""
    from portal.extensions import db
    from portal.flows_runtime import registry
    from portal.models import FlowVersion, Role, User, Walk
    from portal.models.walk import WalkStep

    rng = random.Random(seed)
    started = time.perf_counter()
    with app.app_context():
        flows = {f.id: f for f in registry().all()}
        if len(flows) != FLOWS:
            raise SystemExit(f"the bench flows did not load: {registry().findings()[:3]}")
        ids = sorted(flows)
        popularity = [1 / (i + 1) ** 0.9 for i in range(len(ids))]  # the busiest about a quarter
        versions = {}
        rows = []
        for flow_id in ids:
            flow = flows[flow_id]
            old = [f"{flow.hash[:40]}{k:024d}" for k in (1, 2)]
            versions[flow_id] = [old[0], old[1], flow.hash]
            for k, digest in enumerate(old):
                rows.append({"hash": digest, "flow_id": flow_id, "path": flow.source_path, "source": flow.source,
                             "created_at": NOW - timedelta(days=DAYS - 40 * k)})
            rows.append({"hash": flow.hash, "flow_id": flow_id, "path": flow.source_path, "source": flow.source,
                         "created_at": NOW - timedelta(days=DAYS - 80)})
        db.session.execute(sa.insert(FlowVersion.__table__), rows)
        db.session.execute(sa.insert(User.__table__), [{
            "email": "tech@example.com", "name": "Bench Tech", "role": Role.TECHNICIAN.value, "active": True,
            "password_hash": generate_password_hash(PASSWORD), "created_at": NOW}])
        db.session.commit()
        walks_table, steps_table = Walk.__table__, WalkStep.__table__
        walks, steps = [], []
        path_weights = [p[2] for p in PATHS]
        for i in range(n):
            flow_id = _pick(rng, ids, popularity)
            # More walks lately: a quarter in the last 30 days of 120.
            age_days = DAYS * (rng.random() ** 1.2)
            created = NOW - timedelta(days=age_days, seconds=rng.randrange(60))
            version_index = 2 if age_days < 40 else (1 if age_days < 80 else 0)
            digest = versions[flow_id][version_index]
            path, end, _ = _pick(rng, PATHS, path_weights)
            shown = list(path)
            roll = rng.random()
            status, helped, help_step, ended = "active", None, None, None
            duration = timedelta(seconds=rng.randrange(40, 900))
            if end == "fixed" and roll < 0.85:
                status, ended = "resolved", created + duration
                if rng.random() < 0.35:
                    helped = rng.random() < 0.8
                trail_end = [(end, None)]
            elif end == "stuck" and roll < 0.7:
                status, ended, trail_end = "escalated", created + duration, [(end, None)]
            elif roll < 0.93:  # "I still need help" on a step of the path, or given up there
                cut = rng.randrange(len(shown))
                shown = shown[:cut + 1]
                if rng.random() < 0.5:
                    status, ended, help_step = "escalated", created + duration, shown[-1][0]
                    shown[-1] = (shown[-1][0], None)
                else:
                    status = "abandoned" if rng.random() < 0.3 else "active"  # Start over, or left
                    shown[-1] = (shown[-1][0], None)
                    if status == "abandoned":
                        ended = created + duration
                trail_end = []
            else:  # still going (its last answer recently, when the walk is recent)
                shown = shown[:1]
                shown[-1] = (shown[-1][0], None)
                trail_end = []
            last_step = (trail_end or shown)[-1][0]
            updated = ended or (created + duration)
            at = created.isoformat(timespec="seconds")
            walk_id = f"b{i:011d}{rng.getrandbits(40):010x}"
            walks.append({
                "id": walk_id, "flow_id": flow_id, "flow_title": flows[flow_id].title, "version_hash": digest,
                "status": status, "client_os": "Windows", "client_mobile": False, "helped": helped,
                "feedback": "It came back after lunch." if helped is False and rng.random() < 0.3 else None,
                "created_at": created, "updated_at": updated, "ended_at": ended, "revision": len(shown) + 1,
                "preview": rng.random() < 0.01, "last_flow": flow_id, "last_step": last_step, "last_version": digest,
                "help_step": help_step,
                "state": {"flow": flow_id, "step": last_step, "client": {"os": "Windows", "mobile": "false"},
                          "trail": _trail(flow_id, [s for s in shown if s[1] or status != "active"] + trail_end, at),
                          "pins": {flow_id: digest}, "status": status if status != "abandoned" else "active",
                          "draft": {}, "errors": {}, "ticket": None, "failure": None}})
            for seq, (step_id, answer) in enumerate(shown + trail_end):
                steps.append({"walk_id": walk_id, "seq": seq, "flow_id": flow_id, "version_hash": digest,
                              "step_id": step_id, "answer": answer, "at": created + timedelta(seconds=20 * seq)})
            if len(walks) >= BATCH:
                db.session.execute(sa.insert(walks_table), walks)
                db.session.execute(sa.insert(steps_table), steps)
                db.session.commit()
                walks, steps = [], []
        if walks:
            db.session.execute(sa.insert(walks_table), walks)
            db.session.execute(sa.insert(steps_table), steps)
            db.session.commit()
        counts = {name: db.session.scalar(sa.select(sa.func.count()).select_from(t))
                  for name, t in (("walks", walks_table), ("walk_steps", steps_table))}
        busiest = db.session.execute(
            sa.select(walks_table.c.flow_id, sa.func.count()).group_by(walks_table.c.flow_id)
            .order_by(sa.func.count().desc()).limit(1)).one()
        recent = db.session.scalar(sa.select(sa.func.count()).select_from(walks_table)
                                   .where(walks_table.c.created_at >= NOW - timedelta(days=30)))
    return {"flows": ids, "busiest": busiest[0], "busiest_walks": busiest[1], "current": flows[busiest[0]].hash,
            "counts": counts, "recent": recent, "seconds": time.perf_counter() - started}


# --- the databases -------------------------------------------------------------------------------


def _config(url: str, flows_dir: Path) -> dict:
    return {"SECRET_KEY": "flow-figures-bench", "SQLALCHEMY_DATABASE_URI": url, "FLOWS_DIR": str(flows_dir),
            "FLOWS_RELOAD_SECONDS": 3600, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://", "AUTO_UPGRADE_DB": False}


def prepare(target: str, tmp: Path, flows_dir: Path):
    """The app on a fresh database: (app, name, finish) where finish() readies it for timing."""
    from portal import create_app
    from portal.database import create_schema
    from portal.extensions import db

    if target == "sqlite":
        target = f"sqlite:///{tmp / 'figures.db'}"
    elif target == "postgresql":
        target = PG_URL
    url = sa.engine.make_url(target)
    if url.get_backend_name() == "postgresql":
        import psycopg

        name = url.database or ""
        if "bench" not in name:
            raise SystemExit(f"refusing to rebuild the database {name!r}: --database must name a bench database")
        admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        app = create_app(_config(target, flows_dir))
        with app.app_context():
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
            create_schema()

        def finish():
            with app.app_context(), db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
                version = conn.exec_driver_sql("SHOW server_version").scalar()
            return f"PostgreSQL {version}, VACUUM ANALYZE run"

        return app, "PostgreSQL", finish
    app = create_app(_config(target, flows_dir))
    with app.app_context():
        create_schema()

    def finish():
        with app.app_context(), db.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return f"SQLite {sqlite3.sqlite_version}, no ANALYZE (as the portal leaves its embedded database)"

    return app, "SQLite", finish


# --- timing --------------------------------------------------------------------------------------


class Counter:
    def __init__(self, engine):
        self.engine, self.n = engine, 0
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args):
        self.n += 1

    def close(self):
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)


def _timed(fn, repeat: int, counter: Counter) -> tuple:
    fn()  # untimed: warms the caches (compiled statements, templates, the database's pages)
    times = []
    counter.n = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), _p95(times), counter.n // repeat


def _p95(values: list) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(app, built: dict, repeat: int) -> list:
    from portal.extensions import db
    from portal.figures import queries as q

    flow_id, current = built["busiest"], built["current"]
    periods = {"last 30 days": q.Period.from_args(MultiDict(), NOW),
               f"all {DAYS} days": q.Period.last_days(DAYS + 1, NOW)}
    results = []
    with app.app_context():
        counter = Counter(db.engine)
        try:
            for label, period in periods.items():
                groups = {
                    "flows list": [("flow_figures (all flows)", lambda p=period: q.flow_figures(p))],
                    "flow page": [
                        ("flow_figures (one flow)", lambda p=period: q.flow_figures(p, flow_id)),
                        ("version_figures", lambda p=period: q.version_figures(flow_id, p)),
                        ("step_figures", lambda p=period: q.step_figures(flow_id, current, p)),
                        ("answer_counts", lambda p=period: q.answer_counts(flow_id, current, p)),
                        ("escalations_by_step", lambda p=period: q.escalations_by_step(flow_id, p)),
                        ("feedback", lambda p=period: q.feedback(flow_id, p))],
                    "overview": [("headline", lambda p=period: q.headline(p)),
                                 ("top_problem_steps", lambda p=period: q.top_problem_steps(p))],
                }
                for page, calls in groups.items():
                    def whole(calls=calls):
                        for _, fn in calls:
                            fn()
                        db.session.rollback()
                    med, p95, statements = _timed(whole, repeat, counter)
                    results.append((label, f"{page}: its queries", med, p95, statements))
                    for name, fn in calls:
                        med, p95, statements = _timed(fn, repeat, counter)
                        results.append((label, f"  {name}", med, p95, statements))
        finally:
            counter.close()
    if "authoring" in app.blueprints:
        client = app.test_client()
        client.post("/signin", data={"email": "tech@example.com", "password": PASSWORD})
        pages = {"/desk/flows": "flows list page", f"/desk/flows/{flow_id}": "flow page",
                 "/desk/overview": "overview page"}
        with app.app_context():
            counter = Counter(db.engine)
        try:
            for label, args in (("last 30 days", ""),
                                (f"all {DAYS} days", f"?from={(NOW - timedelta(days=DAYS)).date()}&to={NOW.date()}")):
                for url, name in pages.items():
                    status = client.get(url + args).status_code
                    if status != 200:  # a page being changed while this runs: say so, time the rest
                        print(f"GET {url}{args} answered {status}; not timed", file=sys.stderr)
                        continue

                    def get(url=url + args):
                        client.get(url)
                    med, p95, statements = _timed(get, repeat, counter)
                    results.append((label, f"{name} (GET {url}), through the test client", med, p95, statements))
        finally:
            counter.close()
    return results


def machine() -> str:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{platform.platform()}; {os.cpu_count()} CPUs{f' ({cpu})' if cpu else ''}; "
            f"Python {platform.python_version()}; SQLAlchemy {sa.__version__}")


def report(name: str, prepared: str, built: dict, results: list, args) -> tuple:
    over = [r for r in results if not r[1].startswith("  ") and r[3] > AIM_MS]
    lines = [f"### {name}: {built['counts']['walks']:,} walks, {built['counts']['walk_steps']:,} step rows", "",
             f"{prepared}. Built in {built['seconds']:.0f} s. Busiest flow `{built['busiest']}` "
             f"({built['busiest_walks']:,} walks); {built['recent']:,} walks in the last 30 days. "
             f"{args.repeat} timed rounds each, after one untimed.", "",
             "| period | what | median ms | p95 ms | statements |", "| --- | --- | ---: | ---: | ---: |"]
    for label, what, med, p95, statements in results:
        lines.append(f"| {label} | {what.strip() if not what.startswith('  ') else '· ' + what.strip()} "
                     f"| {med:.1f} | {p95:.1f} | {statements} |")
    lines += ["", f"Aim: every page under {AIM_MS:.0f} ms: " + ("met." if not over else
              "NOT met by " + ", ".join(f"{r[1]} ({r[0]}, p95 {r[3]:.0f} ms)" for r in over) + "."), ""]
    return "\n".join(lines), not over


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--walks", type=int, default=100_000)
    p.add_argument("--database", default="sqlite",
                   help=f"sqlite (a temporary file), postgresql ({PG_URL}) or a database URL")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--seed", type=int, default=10)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flow-figures-") as tmp:
        tmp = Path(tmp)
        flows_dir = tmp / "flows"
        flows_dir.mkdir()
        write_flows(flows_dir)
        app, name, finish = prepare(args.database, tmp, flows_dir)
        built = build(app, args.walks, args.seed)
        prepared = finish()
        results = measure(app, built, args.repeat)
        text, ok = report(name, prepared, built, results, args)
    print(text)
    print(f"Machine: {machine()}.")
    print(f"Command: `python bench/flow_figures.py {shlex.join(argv if argv is not None else sys.argv[1:])}`")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
