"""Walk load test: many simulated users walk the shipped flows to a ticket, against gunicorn.

    python bench/walk_load.py [--users 50] [--duration 20] [--workers 2] [--flows-dir flows]
                              [--database sqlite|URL]

What it does, all in one run:

1. Makes a temporary instance directory with a fresh SQLite database (or uses ``--database URL``,
   which it upgrades and then writes walks and tickets to), brings the schema up to date
   (``flask db upgrade`` plus the search tables, which are not in the migrations yet), and starts
   the portal under gunicorn on 127.0.0.1 and a free port, with ``RATELIMIT_ENABLED=false`` (every
   simulated user comes from one address). The server is stopped by its PID at the end, also on
   Ctrl-C or an error.
2. Turns the flows' own ``tests:`` that end ``escalated`` into scripted walks: the engine is run
   locally in lockstep, with the client facts the server will derive from the User-Agent, to know
   what each shown step must be posted (an option's label, ``Continue``, or a form's fields) and
   where each answer must lead (the next step's number, or the contact page).
3. Drives ``--users`` concurrent users for ``--duration`` seconds from ``--clients`` processes
   (threads inside). Each user loops: search (``GET /?q=word``), ``GET /flows/<id>``, ``POST``
   the first answer to the start URL, ``POST`` each later answer to ``/walks/<id>/<n>``, the
   contact form with a unique name and email, and the end page with the ticket number. A *step
   transition* is one answer ``POST`` answered by a 303, timed together with the ``GET`` of the
   page it redirects to.
4. Measures ``GET /`` requests per second at the same concurrency (``--plain-duration`` s).
5. Reads the database afterwards: tickets opened must equal walks that submitted the contact
   form, with no walk holding two tickets, and the ticket numbers the users saw must match.
6. Prints a Markdown report (figures, aims of the issue, machine, exact command).

Linux only for the CPU accounting (``/proc``); everything else is portable.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import http.client
import json
import math
import multiprocessing
import os
import platform
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import date
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project: app.py, portal/, flows/

# Aims of the issue (SQLite, 50 concurrent users).
AIM_P95_MS = 50.0
AIM_RATIO = 0.5

# User-Agent strings the server maps to each `client.os`; " Mobile" appended makes client.mobile true.
USER_AGENTS = {
    "Other": "walk-load-bench/1.0",
    "Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/131.0.0.0 Safari/537.36",
    "macOS": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/17.4 Safari/605.1.15",
    "Linux": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "ChromeOS": "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/131.0.0.0 Safari/537.36",
    "iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Version/17.4 Mobile/15E148 Safari/604.1",
    "Android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/131.0.0.0 Mobile Safari/537.36",
}

STOP_WORDS = {"with", "that", "this", "your", "from", "when", "what", "wont", "won't", "does", "doesn't", "cannot",
              "can't", "into", "after", "before", "about", "there", "their", "they", "have", "will", "still"}

CSRF_HEADER = re.compile(r'"X-CSRFToken":\s*"([^"]+)"')
CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
VALUE_ATTR = re.compile(r'value="([^"]*)"')
TICKET_NUMBER = re.compile(r"Your ticket number is <strong>#(\d+)</strong>")
WALK_URL = re.compile(r"^/walks/([^/?#]+)/(\d+|contact|end)(?:[?#].*)?$")

KINDS = ("transition", "search", "flow_page", "contact", "plain")
KIND_LABELS = {
    "transition": "step transition (answer POST + GET of the next page)",
    "search": "search `GET /?q=word`",
    "flow_page": "`GET /flows/<id>` (step 1)",
    "contact": "contact form POST + GET of the end page",
    "plain": "plain page `GET /` (second phase)",
}


# --- scenarios: the flows' own tests, as HTTP answers ------------------------------------------


def _plain(value) -> dict:
    return {str(k): ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in (value or {}).items()}


def _user_agent_for(test_client: dict, client_facts) -> tuple:
    """A User-Agent whose facts, as the server derives them, include every fact the test sets."""
    wanted = _plain(test_client)
    if set(wanted) - {"os", "mobile"}:
        return None, None
    candidates = [USER_AGENTS.get(wanted.get("os", "Other"), "")] + list(USER_AGENTS.values())
    candidates += [ua + " Mobile" for ua in candidates]
    for ua in candidates:
        if not ua:
            continue
        facts = _plain(client_facts(ua))
        if all(facts.get(k) == v for k, v in wanted.items()):
            return ua, client_facts(ua)
    return None, None


def _search_word(title: str) -> str:
    words = [w.strip(".,:;!?()'\"").lower() for w in re.split(r"[\s/]+", title)]
    words = [w for w in words if len(w) >= 4 and w not in STOP_WORDS and any(c.isalpha() for c in w)]
    return max(words, key=len) if words else (title.split() or ["help"])[0].lower()


def build_scenarios(flows_dir: Path) -> tuple:
    """(scenarios, skipped): every escalating author's test of `flows_dir` as a scripted walk."""
    sys.path.insert(0, str(ROOT))
    from portal.flows import engine
    from portal.flows.registry import Registry
    from portal.flows.testing import run_test
    from portal.selfservice.services import client_facts

    registry = Registry(flows_dir)
    lookup = registry.lookup()
    scenarios, skipped = [], []
    for checked in registry.broken:
        skipped.append(f"{checked.path}: the file has errors, left out")
    for flow in registry.all():
        for index, test in enumerate(flow.tests, 1):
            name = f"{flow.id} #{index}" + (f" ({test.name})" if test.name else "")
            if test.expect != "escalated":
                continue
            if not run_test(flow, test, registry.flows).passed:
                skipped.append(f"{name}: the test fails in `flask flows test`")
                continue
            ua, facts = _user_agent_for(test.client, client_facts)
            if ua is None:
                skipped.append(f"{name}: no User-Agent gives the client facts {dict(test.client)}")
                continue
            try:
                scenario = _script(flow, test, engine, lookup, facts)
            except ValueError as exc:
                skipped.append(f"{name}: {exc}")
                continue
            scenario.update(name=name, ua=ua, search=_search_word(flow.title))
            scenarios.append(scenario)
    return scenarios, skipped


def _script(flow, test, engine, lookup, facts) -> dict:
    """The posts of one walk: what the server gets at each shown step, and where it must lead."""
    state = engine.start(flow, facts, flows=lookup)
    start_on_get = state.ended or state.flow != flow.id  # the flow page starts the walk itself
    answers = list(test.answers)
    posts = []
    while not state.ended:
        current = lookup(state.flow)
        step = current.steps[state.step]
        if step.type == "info":
            if answers and isinstance(answers[0], str) and answers[0].lower() == "continue":
                answers.pop(0)
            data, value = {"answer": "Continue"}, None
        elif not answers:
            raise ValueError(f"the answers run out at step {step.id!r}")
        elif step.type == "question":
            option = step.option(answers.pop(0)) if isinstance(answers[0], str) else None
            if option is None:
                raise ValueError(f"no option of step {step.id!r} fits the answer")
            data, value = {"answer": option.label}, option.label  # the button posts the label
        elif step.type == "form":
            given = answers.pop(0)
            if not isinstance(given, Mapping):
                raise ValueError(f"step {step.id!r} is a form")
            data = {f.name: _form_text(given.get(f.name)) for f in step.fields}
            value = dict(data)
        else:
            raise ValueError(f"step {step.id!r} of type {step.type} takes no answer")
        number = state.number
        new = engine.advance(current, state, value, flows=lookup)
        if new.errors:
            raise ValueError(f"the form {step.id!r} refuses the values: {dict(new.errors)}")
        if new.status == engine.ESCALATED:
            expect = "contact"
        elif new.ended:
            expect = "end"
        else:
            expect = str(new.number)
        posts.append({"number": number, "data": data, "expect": expect})
        state = new
    if state.status != engine.ESCALATED:
        raise ValueError(f"the walk ends {state.status}, not escalated")
    if start_on_get:
        raise ValueError("the flow page starts the walk itself (first step behind a goto), not scripted")
    return {"flow_id": flow.id, "title": flow.title, "posts": posts, "steps": len(posts)}


def _form_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _db_url(value: str, tmp: Path) -> str:
    if value == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix):]
    return value


PREPARE = """
import sys
import sqlalchemy as sa
from portal import create_app, database
from portal.extensions import db

fresh = sys.argv[1] == "fresh"
app = create_app()
database.upgrade(app)                       # what `flask --app app db upgrade` does
try:
    import portal.search as search          # registers the search tables in EXTRA_SCHEMA
except ImportError:
    search = None
with app.app_context():
    inspector = sa.inspect(db.engine)
    behind = [f"{t.name}.{c.name}" for t in db.metadata.sorted_tables if inspector.has_table(t.name)
              for c in t.columns if c.name not in {col["name"] for col in inspector.get_columns(t.name)}]
    if behind and fresh:                    # the migrations lag the models: build from the models instead
        print("migrations are behind the models (missing " + ", ".join(behind[:6])
              + (" ..." if len(behind) > 6 else "") + "): schema built with create_schema()")
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    elif behind:
        print("warning: the database lacks columns the models have: " + ", ".join(behind[:6]))
    database.create_schema()                # creates only what is missing
    if search is not None and hasattr(search, "sync_index"):
        from portal.flows_runtime import registry
        search.sync_index(registry().all())
        print("search index: synced", len(registry().all()), "flows")
"""


class Server:
    """The portal under gunicorn, started and stopped by PID."""

    def __init__(self, args, tmp: Path, flows_dir: Path, app: str | None = None, name: str = "gunicorn"):
        self.args = args
        self.tmp = tmp
        self.app = app or args.app
        self.port = free_port()
        self.url = _db_url(args.database, tmp)
        self.pidfile = tmp / f"{name}.pid"
        self.log = tmp / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.env = dict(os.environ, DATABASE_URL=self.url, SECRET_KEY=secrets.token_hex(32),
                        PUBLIC_URL="http://127.0.0.1", FLOWS_DIR=str(flows_dir), RATELIMIT_ENABLED="false",
                        PYTHONDONTWRITEBYTECODE="1")

    def prepare(self) -> None:
        fresh = "fresh" if self.args.database == "sqlite" else "given"
        done = subprocess.run([sys.executable, "-c", PREPARE, fresh], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            raise SystemExit(f"preparing the database failed:\n{done.stdout}\n{done.stderr}")
        for line in done.stdout.splitlines():
            print(f"  {line}", file=sys.stderr)

    def start(self) -> None:
        gunicorn = shutil.which("gunicorn")
        cmd = [gunicorn] if gunicorn else [sys.executable, "-m", "gunicorn"]
        kind = ["-k", "gthread", "--threads", str(self.args.threads)] if self.args.worker_class == "gthread" else [
            "-k", self.args.worker_class]
        cmd += ["-w", str(self.args.workers), *kind,
                "--no-control-socket", "--pid", str(self.pidfile), "-b", f"127.0.0.1:{self.port}",
                "--error-logfile", str(self.log), "--log-level", "warning", self.app]
        shown = [os.path.basename(cmd[0]), *cmd[1:]]
        self.command = " ".join(shlex.quote(c) for c in shown).replace(str(self.tmp), "$TMP").replace(
            f":{self.port}", ":$PORT")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)  # Ctrl-C reaches us; we stop it by PID
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/")
                status = conn.getresponse().status
                conn.close()
                if status == 200 and len(self.worker_pids()) >= self.args.workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer within 60 s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def worker_pids(self) -> list:
        if self.proc is None:
            return []
        pids = []
        for entry in Path("/proc").glob("[0-9]*/stat") if Path("/proc").is_dir() else []:
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = entry.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid:
                    pids.append(int(entry.parent.name))
        return pids

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pid = self.proc.pid
        with contextlib.suppress(OSError, ValueError):
            written = int(self.pidfile.read_text().strip())
            if written != pid:
                print(f"warning: pid file says {written}, started {pid}; stopping {pid}", file=sys.stderr)
        os.kill(pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu() -> dict:
    """pid -> (name, user + system CPU seconds so far) of every process (Linux /proc; empty elsewhere)."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*/stat") if Path("/proc").is_dir() else []:
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = entry.read_text()
            name = text[text.index("(") + 1:text.rindex(")")]
            with contextlib.suppress(OSError, IndexError):
                args = (entry.parent / "cmdline").read_bytes().split(b"\0")
                name = " ".join(os.path.basename(a.decode(errors="replace")) for a in args[:2] if a) or name
            fields = text.rsplit(")", 1)[1].split()
            table[int(entry.parent.name)] = (name, (int(fields[11]) + int(fields[12])) / TICKS)
    return table


def machine_busy() -> float:
    """Core-seconds the whole machine spent busy since boot (everything but idle and iowait)."""
    with contextlib.suppress(OSError, ValueError):
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(values[:8]) - values[3] - values[4]) / TICKS
    return 0.0


class CpuWindow:
    """CPU used during a phase: the server's processes, the whole machine, and the busiest others."""

    def __init__(self, server_pids: list):
        self.server_pids = set(server_pids)
        self.machine0, self.table0 = machine_busy(), process_cpu()

    def close(self, loadgen: float, elapsed: float) -> dict:
        machine, table = machine_busy() - self.machine0, process_cpu()
        server = sum(table[p][1] - self.table0[p][1] for p in self.server_pids if p in table and p in self.table0)
        mine = {os.getpid(), *self.server_pids}
        others = sorted(((table[p][1] - cpu, name) for p, (name, cpu) in self.table0.items()
                         if p in table and p not in mine), reverse=True)
        return {"server": server, "loadgen": loadgen, "machine": machine, "elapsed": elapsed,
                "others": max(0.0, machine - server - loadgen),
                "top_others": [f"`{name[:60]}` {cpu:.1f} s" for cpu, name in others[:3] if cpu >= 0.5]}


# --- the simulated users -------------------------------------------------------------------------


class Reconnect(Exception):
    """The kept-alive connection was closed by the server before it answered."""


class Browser:
    """One user's connection (kept alive) and cookies, over http.client."""

    def __init__(self, port: int, timeout: float):
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.cookies: dict = {}
        self.ua = USER_AGENTS["Other"]
        self.reconnects = 0

    def request(self, method: str, path: str, form: dict | None = None) -> tuple:
        """(status, location path or None, body text)."""
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"User-Agent": self.ua, "Accept": "text/html"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in range(2):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read().decode("utf-8", "replace")
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                self.close()
                if fresh or attempt:
                    raise
                self.reconnects += 1  # a kept-alive connection the server had closed: once more, fresh
            except BaseException:
                self.close()
                raise
        for header in resp.msg.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        location = resp.getheader("Location")
        if location:
            parts = urllib.parse.urlsplit(location)
            location = parts.path + (f"?{parts.query}" if parts.query else "")
        return resp.status, location, text

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
            self.conn = None


class WalkFailed(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _csrf(page: str) -> str | None:
    found = CSRF_HEADER.search(page)
    if found:
        return html.unescape(found.group(1))
    tag = CSRF_INPUT.search(page)
    value = VALUE_ATTR.search(tag.group(0)) if tag else None
    return html.unescape(value.group(1)) if value else None


def _start_action(page: str, flow_id: str) -> str | None:
    for action in re.findall(r'action="([^"]+)"', page):
        action = html.unescape(action)
        if action.startswith(f"/flows/{flow_id}/start") and "help=" not in action:
            return action
    return None


class Stats:
    """What one client process saw."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict = defaultdict(list)  # kind -> ms
        self.errors: Counter = Counter()
        self.samples: list = []
        self.requests = 0
        self.transitions = 0
        self.walks_started = 0
        self.submitted: list = []  # walk ids whose contact form was answered with a 303
        self.submit_unknown: list = []  # walk ids whose contact POST failed: a ticket may or may not exist
        self.awaiting_contact = 0  # walks stopped by the deadline on the contact page
        self.tickets: dict = defaultdict(set)  # walk id -> ticket numbers seen
        self.walk_ids: list = []
        self.reconnects = 0
        self.first = math.inf
        self.last = 0.0

    def error(self, kind: str, message: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            if len(self.samples) < 20:
                self.samples.append(f"{kind}: {message[:300]}")

    def timed(self, kind: str, ms: float, requests: int) -> None:
        with self.lock:
            self.latencies[kind].append(ms)
            self.requests += requests
            if kind == "transition":
                self.transitions += 1

    def as_dict(self) -> dict:
        return {"latencies": dict(self.latencies), "errors": dict(self.errors), "samples": self.samples,
                "requests": self.requests, "transitions": self.transitions, "walks_started": self.walks_started,
                "submitted": self.submitted, "submit_unknown": self.submit_unknown,
                "awaiting_contact": self.awaiting_contact,
                "tickets": {k: sorted(v) for k, v in self.tickets.items()}, "walk_ids": self.walk_ids,
                "reconnects": self.reconnects, "first": self.first, "last": self.last}


class User:
    """One simulated person: walks flows to a ticket until the deadline."""

    def __init__(self, uid: int, port: int, scenarios: list, stats: Stats, deadline: float, timeout: float,
                 double_submit: float, think: float = 0.0):
        self.uid = uid
        self.browser = Browser(port, timeout)
        self.scenarios = scenarios
        self.stats = stats
        self.deadline = deadline
        self.double_submit = double_submit
        self.rng = random.Random(uid)
        self.think = think

    def pause(self) -> None:
        """A person reading the page before the next click (--think: mean seconds, exponential)."""
        if self.think > 0:
            time.sleep(min(self.rng.expovariate(1 / self.think), max(0.0, self.deadline - time.time())))

    def _call(self, method: str, path: str, form: dict | None = None, expect=(200,)) -> tuple:
        t0 = time.perf_counter()
        status, location, text = self.browser.request(method, path, form)
        ms = (time.perf_counter() - t0) * 1000
        with self.stats.lock:
            self.stats.latencies["request"].append(ms)  # every request on its own (the p95 aim)
        if status not in expect:
            raise WalkFailed(f"http {status}", f"{method} {path} -> {status} (expected {expect}), Location={location}"
                             f" {_page_error(text)}")
        return status, location, text, ms

    def run_walks(self) -> None:
        k = 0
        while time.time() < self.deadline:
            scenario = self.scenarios[(self.uid + k) % len(self.scenarios)]
            k += 1
            try:
                self.walk(scenario, k)
            except WalkFailed as exc:
                self.stats.error(exc.kind, f"{scenario['name']}: {exc}")
                time.sleep(0.05)
            except (OSError, http.client.HTTPException) as exc:
                self.stats.error(type(exc).__name__, f"{scenario['name']}: {exc}")
                self.browser.close()
                time.sleep(0.05)
        self.stats.reconnects += self.browser.reconnects
        self.browser.close()

    def walk(self, scenario: dict, k: int) -> None:
        stats, browser = self.stats, self.browser
        browser.ua = scenario["ua"]
        t_first = time.time()
        with stats.lock:
            stats.first = min(stats.first, t_first)
        *_, ms = self._call("GET", "/?" + urllib.parse.urlencode({"q": scenario["search"]}))
        stats.timed("search", ms, 1)
        self.pause()
        *_, page, ms = self._call("GET", f"/flows/{scenario['flow_id']}")
        stats.timed("flow_page", ms, 1)
        token = _csrf(page)
        action = _start_action(page, scenario["flow_id"])
        if not token or not action:
            raise WalkFailed("bad page", f"no csrf token or start form on /flows/{scenario['flow_id']}")
        walk_id = None
        for i, post in enumerate(scenario["posts"]):
            self.pause()
            if time.time() >= self.deadline:
                return
            target = action if i == 0 else f"/walks/{walk_id}/{post['number']}"
            form = dict(post["data"], csrf_token=token)
            _, location, _, ms_post = self._call("POST", target, form, expect=(303,))
            match = WALK_URL.match(location or "")
            if not match or (walk_id is not None and match.group(1) != walk_id) or match.group(2) != post["expect"]:
                raise WalkFailed("wrong redirect", f"answer {i + 1} on {target} -> {location!r}, "
                                                   f"expected step {post['expect']!r}")
            if walk_id is None:
                walk_id = match.group(1)
                with stats.lock:
                    stats.walks_started += 1
                    stats.walk_ids.append(walk_id)
            _, _, page, ms_get = self._call("GET", location)
            token = _csrf(page) or token
            stats.timed("transition", ms_post + ms_get, 2)
            with stats.lock:
                stats.last = max(stats.last, time.time())
        self.pause()
        if time.time() >= self.deadline:
            with stats.lock:
                stats.awaiting_contact += 1
            return
        form = {"name": f"Bench User {self.uid}-{k}",
                "email": f"bench-{os.getpid()}-{self.uid}-{k}@example.com", "csrf_token": token}
        contact = f"/walks/{walk_id}/contact"
        try:
            _, location, _, ms_post = self._call("POST", contact, form, expect=(303,))
        except WalkFailed as exc:
            with stats.lock:
                stats.submit_unknown.append(walk_id)
            raise WalkFailed("contact " + exc.kind, str(exc)) from None
        except (OSError, http.client.HTTPException):
            with stats.lock:
                stats.submit_unknown.append(walk_id)
            raise
        with stats.lock:
            stats.submitted.append(walk_id)
        if location != f"/walks/{walk_id}/end":
            raise WalkFailed("wrong redirect", f"contact -> {location!r}")
        *_, page, ms_get = self._call("GET", location)
        stats.timed("contact", ms_post + ms_get, 2)
        number = TICKET_NUMBER.search(page)
        if not number:
            raise WalkFailed("no ticket number", f"end page of walk {walk_id} shows no ticket number")
        with stats.lock:
            stats.tickets[walk_id].add(int(number.group(1)))
            stats.last = max(stats.last, time.time())
        self.pause()
        if self.double_submit and self.rng.random() < self.double_submit:
            # A second click on "Send": must land on the same ticket, never a second one.
            status, location, page, _ = self._call("POST", contact, form, expect=(200, 302, 303))
            if location:
                *_, page, _ = self._call("GET", location)
            again = TICKET_NUMBER.search(page)
            with stats.lock:
                stats.requests += 2
                if again:
                    stats.tickets[walk_id].add(int(again.group(1)))

    def run_plain(self) -> None:
        while time.time() < self.deadline:
            try:
                *_, ms = self._call("GET", "/")
                self.stats.timed("plain", ms, 1)
                with self.stats.lock:
                    self.stats.last = max(self.stats.last, time.time())
            except WalkFailed as exc:
                self.stats.error(exc.kind, f"GET /: {exc}")
            except (OSError, http.client.HTTPException) as exc:
                self.stats.error(type(exc).__name__, f"GET /: {exc}")
                self.browser.close()
        self.browser.close()


    def run_once(self) -> None:
        """Fixed mode: walk one scripted walk to its ticket, at full speed."""
        scenario = self.scenarios[self.uid % len(self.scenarios)]
        try:
            self.walk(scenario, 1)
        except WalkFailed as exc:
            self.stats.error(exc.kind, f"{scenario['name']}: {exc}")
        except (OSError, http.client.HTTPException) as exc:
            self.stats.error(type(exc).__name__, f"{scenario['name']}: {exc}")
        finally:
            self.stats.reconnects += self.browser.reconnects
            self.browser.close()

    def run_step_gets(self) -> None:
        """Reload the step page of a walk started beforehand (``GET /walks/<id>/<n>``) until the deadline."""
        page = self.scenarios[self.uid % len(self.scenarios)]  # here: the pages of start_step_pages()
        self.browser.ua, self.browser.cookies = page["ua"], dict(page["cookies"])
        self._loop_gets("step_get", page["path"])

    def run_bare(self) -> None:
        """``GET /`` of the bare Flask app until the deadline."""
        self._loop_gets("bare", "/")

    def _loop_gets(self, kind: str, path: str) -> None:
        while time.time() < self.deadline:
            try:
                *_, ms = self._call("GET", path)
                self.stats.timed(kind, ms, 1)
                with self.stats.lock:
                    self.stats.last = max(self.stats.last, time.time())
            except WalkFailed as exc:
                self.stats.error(exc.kind, f"GET {path}: {exc}")
            except (OSError, http.client.HTTPException) as exc:
                self.stats.error(type(exc).__name__, f"GET {path}: {exc}")
                self.browser.close()
        self.stats.reconnects += self.browser.reconnects
        self.browser.close()


def start_step_pages(server: Server, scenarios: list, count: int, timeout: float) -> list:
    """`count` walks started as a browser would (step 1 shown and answered): each one's step page and cookies."""
    pages = []
    for uid in range(count):
        scenario = scenarios[uid % len(scenarios)]
        browser = Browser(server.port, timeout)
        browser.ua = scenario["ua"]
        try:
            status, _, page = browser.request("GET", f"/flows/{scenario['flow_id']}")
            form = dict(scenario["posts"][0]["data"], csrf_token=_csrf(page) or "")
            status, location, _ = browser.request("POST", _start_action(page, scenario["flow_id"]) or "/", form)
            if status != 303 or not WALK_URL.match(location or ""):
                raise SystemExit(f"starting a walk for the step page phase failed: {status} {location}")
            if browser.request("GET", location)[0] != 200:
                raise SystemExit(f"the step page {location} does not answer 200")
        finally:
            browser.close()
        pages.append({"ua": scenario["ua"], "cookies": dict(browser.cookies), "path": location})
    return pages


def _page_error(text: str) -> str:
    found = re.search(r"<title>([^<]*)</title>", text or "")
    return f"[{html.unescape(found.group(1)).strip()}]" if found else ""


def client_process(phase: str, uids: list, port: int, scenarios: list, start_at: float, duration: float,
                   timeout: float, double_submit: float, think: float, results, concurrency: int = 0) -> None:
    """One load-generator process: a thread per user, all starting at `start_at`.

    Phase "fixed": `concurrency` threads take the users of `uids` in turn; each user walks once.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business: it terminates us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    stats = Stats()
    deadline = start_at + duration
    if phase == "fixed":
        queue = list(reversed(uids))

        def worker():
            while True:
                with stats.lock:
                    if not queue:
                        return
                    uid = queue.pop()
                User(uid, port, scenarios, stats, math.inf, timeout, double_submit).run_once()
                with stats.lock:
                    stats.last = max(stats.last, time.time())

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, concurrency))]
    else:
        users = [User(uid, port, scenarios, stats, deadline, timeout, double_submit, think) for uid in uids]
        targets = {"walk": "run_walks", "plain": "run_plain", "step_get": "run_step_gets", "bare": "run_bare"}
        threads = [threading.Thread(target=getattr(u, targets[phase]), daemon=True) for u in users]
    cpu0 = time.process_time()
    time.sleep(max(0.0, start_at - time.time()))
    stats.first = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = stats.as_dict()
    result["cpu"] = time.process_time() - cpu0
    results.put(result)


def run_phase(phase: str, args, server: Server, scenarios: list, duration: float) -> dict:
    """Run `args.users` users in `args.clients` processes; merge what they saw.

    Phase "fixed" runs `args.walks` users, each walking once, `args.users` at a time; `duration`
    is then only the longest it may take.
    """
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    results = ctx.Queue()
    procs = []
    start_at = time.time() + 1.0 + 0.05 * args.clients  # time for every process to be ready
    nprocs = max(1, min(args.clients, args.users))
    fixed = phase == "fixed"
    try:
        for p in range(nprocs):
            uids = list(range(p, args.walks if fixed else args.users, nprocs))
            threads = len(range(p, args.users, nprocs)) if fixed else 0
            proc = ctx.Process(target=client_process, args=(phase, uids, server.port, scenarios, start_at,
                                                            duration, args.timeout, args.double_submit,
                                                            args.think if phase == "walk" else 0.0, results,
                                                            threads),
                               daemon=True)
            proc.start()
            procs.append(proc)
        time.sleep(max(0.0, start_at - time.time()))
        window = CpuWindow([server.proc.pid, *server.worker_pids()])
        merged: list = []
        wait_until = start_at + duration + args.timeout + 30
        while len(merged) < nprocs:
            try:
                merged.append(results.get(timeout=max(1.0, wait_until - time.time())))
            except Exception:  # queue.Empty: a process died or hangs
                if time.time() >= wait_until or not any(p.is_alive() for p in procs):
                    raise SystemExit(f"{nprocs - len(merged)} client process(es) gave no result") from None
        for proc in procs:
            proc.join(timeout=10)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
    result = _merge(merged, start_at, 0.0 if fixed else duration)
    result["cpu_window"] = window.close(result["cpu"], result["elapsed"])
    return result


def _merge(parts: list, start_at: float, duration: float) -> dict:
    out = {"latencies": defaultdict(list), "errors": Counter(), "samples": [], "requests": 0, "transitions": 0,
           "walks_started": 0, "submitted": [], "submit_unknown": [], "awaiting_contact": 0,
           "tickets": defaultdict(set), "walk_ids": [], "reconnects": 0, "cpu": 0.0}
    last = start_at + duration
    for part in parts:
        for kind, values in part["latencies"].items():
            out["latencies"][kind].extend(values)
        out["errors"].update(part["errors"])
        out["samples"].extend(part["samples"])
        for key in ("requests", "transitions", "walks_started", "awaiting_contact", "reconnects", "cpu"):
            out[key] += part[key]
        for key in ("submitted", "submit_unknown", "walk_ids"):
            out[key].extend(part[key])
        for walk_id, numbers in part["tickets"].items():
            out["tickets"][walk_id].update(numbers)
        last = max(last, part["last"])
    out["elapsed"] = last - start_at
    return out


# --- the database check ---------------------------------------------------------------------------


def check_database(url: str, walk_ids: list, baseline: int) -> dict:
    """Count tickets and escalated walks (read only), and pair tickets with walks."""
    import sqlalchemy as sa

    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        engine = sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True))
    else:
        engine = sa.create_engine(url)
    by_walk: dict = defaultdict(list)
    escalated = 0
    try:
        with engine.connect() as conn:
            opened = conn.execute(sa.text("SELECT count(*) FROM tickets WHERE id > :b AND walk_id IS NOT NULL"),
                                  {"b": baseline}).scalar()
            for i in range(0, len(walk_ids), 500):
                chunk = walk_ids[i:i + 500]
                marks = ", ".join(f":w{j}" for j in range(len(chunk)))
                params = {f"w{j}": w for j, w in enumerate(chunk)}
                for walk_id, ticket_id in conn.execute(
                        sa.text(f"SELECT walk_id, id FROM tickets WHERE walk_id IN ({marks})"), params):
                    by_walk[walk_id].append(ticket_id + 1000)  # TICKET_NUMBER_OFFSET
                escalated += conn.execute(
                    sa.text(f"SELECT count(*) FROM walks WHERE status = 'escalated' AND id IN ({marks})"),
                    params).scalar()
            try:
                misses = conn.execute(sa.text("SELECT count(*) FROM search_misses")).scalar()
            except sa.exc.DBAPIError:
                misses = None
            doubled = conn.execute(sa.text("SELECT walk_id, count(*) FROM tickets WHERE walk_id IS NOT NULL "
                                           "AND id > :b GROUP BY walk_id HAVING count(*) > 1"),
                                   {"b": baseline}).all()
    finally:
        engine.dispose()
    return {"opened": opened, "escalated_walks": escalated, "by_walk": by_walk, "search_misses": misses,
            "doubled": [tuple(row) for row in doubled]}


def max_ticket_id(url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM tickets")).scalar()
    finally:
        engine.dispose()


# --- report --------------------------------------------------------------------------------------


def pct(values: list, p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _per_request(seconds: float, requests: int) -> str:
    return f"{seconds / requests * 1000:.2f} ms CPU per request" if requests else "no request"


def machine() -> str:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import gunicorn
    import sqlalchemy

    return (f"{platform.platform()}; {os.cpu_count()} CPUs{f' ({cpu})' if cpu else ''}; "
            f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; gunicorn {gunicorn.__version__}; "
            f"SQLAlchemy {sqlalchemy.__version__}")


def report(args, command: str, server: Server, scenarios: list, skipped: list, walk: dict, plain: dict,
           db: dict, warm: dict) -> tuple:
    lat = walk["latencies"]
    transitions = walk["transitions"]
    step_rate = transitions / walk["elapsed"] if walk["elapsed"] > 0 else 0.0
    plain_rate = len(plain["latencies"]["plain"]) / plain["elapsed"] if plain["elapsed"] > 0 else 0.0
    ratio = step_rate / plain_rate if plain_rate else float("nan")
    t = lat["transition"]
    errors = sum(walk["errors"].values()) + sum(plain["errors"].values())
    completed = sum(1 for numbers in walk["tickets"].values() if numbers)
    submitted = set(walk["submitted"]) | set(warm["submitted"])
    unknown = set(walk["submit_unknown"]) | set(warm["submit_unknown"])
    seen = {w: set(n) for w, n in {**warm["tickets"], **walk["tickets"]}.items()}
    mismatched = [w for w, numbers in seen.items() if sorted(numbers) != sorted(db["by_walk"].get(w, []))]
    lost = [w for w in submitted if not db["by_walk"].get(w)]
    multi = [w for w, n in db["by_walk"].items() if len(n) > 1] + [w for w, n in seen.items() if len(n) > 1]
    tickets_ok = db["opened"] == len(submitted) and not lost and not multi and not db["doubled"] and not mismatched
    database = "SQLite (fresh, temporary)" if args.database == "sqlite" else "the given --database URL"

    lines = [f"### {args.users} users, {args.duration:g} s, {args.workers} workers ({database})", ""]
    lines += ["| users | duration | workers | transitions/s | p50 ms | p95 ms | p99 ms | errors | walks completed "
              "| tickets opened / expected | plain page req/s | ratio |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
              f"| {args.users} | {walk['elapsed']:.1f} s | {args.workers} × {args.threads} threads | {step_rate:.1f} "
              f"| {pct(t, 50):.1f} | {pct(t, 95):.1f} | {pct(t, 99):.1f} | {errors} | {completed} "
              f"| {db['opened']} / {len(submitted)} {'(equal)' if db['opened'] == len(submitted) else '(NOT equal)'} "
              f"| {plain_rate:.1f} | {ratio:.2f} |", ""]
    aims = [
        ("no error", errors == 0, f"{errors} error(s)"),
        ("no ticket lost or doubled", tickets_ok,
         f"{db['opened']} tickets for {len(submitted)} submitted walks; {len(lost)} lost, "
         f"{len(set(multi)) + len(db['doubled'])} doubled, {len(mismatched)} shown number(s) differing from the "
         f"database, {db['escalated_walks']} walks escalated in the database"),
        (f"step p95 under {AIM_P95_MS:g} ms", pct(t, 95) < AIM_P95_MS, f"p95 {pct(t, 95):.1f} ms"),
        ("step throughput ≥ half the plain page's", ratio >= AIM_RATIO,
         f"{step_rate:.1f} / {plain_rate:.1f} = {ratio:.2f}"),
    ]
    lines += ["| aim | met | figure |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {figure} |" for name, ok, figure in aims]
    lines += ["", "| request | count | per s | p50 ms | p95 ms | p99 ms |", "|---|---:|---:|---:|---:|---:|"]
    for kind in KINDS:
        values = plain["latencies"][kind] if kind == "plain" else lat.get(kind, [])
        elapsed = plain["elapsed"] if kind == "plain" else walk["elapsed"]
        if values:
            lines.append(f"| {KIND_LABELS[kind]} | {len(values)} | {len(values) / elapsed:.1f} | {pct(values, 50):.1f} "
                         f"| {pct(values, 95):.1f} | {pct(values, 99):.1f} |")
    wc, pc = walk["cpu_window"], plain["cpu_window"]
    steps = [s["steps"] for s in scenarios]
    walk_rps = walk["requests"] / walk["elapsed"] if walk["elapsed"] > 0 else 0.0
    cores = os.cpu_count() or 1
    lines += ["",
              f"- Walk phase: {walk['requests']} HTTP requests in {walk['elapsed']:.1f} s ({walk_rps:.0f} req/s, "
              f"{walk_rps / plain_rate if plain_rate else float('nan'):.2f} of the plain page's req/s; a transition "
              f"is 2 of them); {walk['walks_started']} walks started, {len(walk['submitted'])} submitted the contact "
              f"form, {completed} showed a ticket number, {walk['awaiting_contact']} stopped by the deadline on the "
              f"contact page (plus {len(warm['submitted'])} warm-up walks, counted in the ticket check)."
              + (f" Think time: {args.think:g} s mean between clicks." if args.think else
                 " No think time: a closed loop, so a request waits about users / req/s "
                 f"= {args.users / walk_rps * 1000 if walk_rps else float('nan'):.0f} ms on average."),
              f"- Client: {walk['reconnects'] + plain['reconnects']} reconnects after the server closed an idle "
              f"kept-alive connection (gunicorn's keep-alive timeout is 2 s).",
              f"- Scripted walks: {len(scenarios)} (every author's test ending `escalated`) from "
              f"{len({s['flow_id'] for s in scenarios})} flows of `{os.path.relpath(args.flows_dir_path, ROOT)}`, "
              f"{min(steps)}–{max(steps)} answers each (mean {sum(steps) / len(steps):.1f}); users take them in turn."
              + (f" Searches that found nothing (each writes a row): {db['search_misses']}"
                 f"{'' if args.database == 'sqlite' else ' (whole table)'}."
                 if db.get("search_misses") is not None else ""),
              f"- Plain page phase: {len(plain['latencies']['plain'])} × `GET /` in {plain['elapsed']:.1f} s "
              f"at the same concurrency.",
              f"- CPU, walk phase: gunicorn {wc['server']:.1f} s ({_per_request(wc['server'], walk['requests'])}), "
              f"load generator {wc['loadgen']:.1f} s, the rest of the machine {wc['others']:.1f} s"
              f"{' (' + ', '.join(wc['top_others']) + ')' if wc['top_others'] else ''}, machine busy "
              f"{wc['machine']:.1f} of {wc['elapsed'] * cores:.1f} core-seconds. Plain phase: gunicorn "
              f"{pc['server']:.1f} s ({_per_request(pc['server'], len(plain['latencies']['plain']))}), load generator "
              f"{pc['loadgen']:.1f} s, the rest {pc['others']:.1f} s, machine busy {pc['machine']:.1f} of "
              f"{pc['elapsed'] * cores:.1f}.",
              f"- Server: `{server.command}` (env: DATABASE_URL, SECRET_KEY, FLOWS_DIR, RATELIMIT_ENABLED=false); "
              f"client: {max(1, min(args.clients, args.users))} processes × threads, http.client keep-alive.",
              f"- Machine: {machine()}.",
              f"- Command: `{command}`", ""]
    busy_elsewhere = max(wc["others"] / (wc["elapsed"] * cores), pc["others"] / (pc["elapsed"] * cores))
    if busy_elsewhere > 0.1:
        lines += [f"**Warning:** other processes on this machine used up to {busy_elsewhere:.0%} of its CPU during "
                  "the run; these figures are lower than a quiet machine would give.", ""]
    if skipped:
        lines += ["Tests not scripted:", *[f"- {s}" for s in skipped], ""]
    samples = walk["samples"] + plain["samples"]
    if samples:
        counts = walk["errors"] + plain["errors"]
        lines += ["Errors by kind: " + ", ".join(f"{k} × {v}" for k, v in counts.most_common()), "",
                  "```", *samples[:10], "```", ""]
    summary = {"users": args.users, "duration": walk["elapsed"], "workers": args.workers, "threads": args.threads,
               "transitions_per_s": step_rate, "p50_ms": pct(t, 50), "p95_ms": pct(t, 95), "p99_ms": pct(t, 99),
               "errors": errors, "walks_completed": completed, "tickets_opened": db["opened"],
               "tickets_expected": len(submitted), "tickets_ok": tickets_ok, "submit_unknown": len(unknown),
               "plain_req_per_s": plain_rate, "ratio": ratio, "walk_req_per_s": walk_rps, "think": args.think,
               "cpu_walk": wc, "cpu_plain": pc, "machine": machine(), "command": command,
               "date": date.today().isoformat(), "errors_by_kind": dict(walk["errors"] + plain["errors"])}
    return "\n".join(lines), summary, all(ok for _, ok, _ in aims)


# --- fixed mode: N users walk once each; the step page against a bare Flask page ------------------

#: Aims of issue 7 for the fixed mode (200 users, 32 at a time, no pause).
AIM_TICKETS_PER_S = {"sqlite": 40.0, "postgresql": 30.0}
AIM_REQUEST_P95_MS = 150.0
AIM_STEP_RATIO = 0.6


def run_fixed(args, command: str, server: Server, scenarios: list, skipped: list, warm: dict, baseline: int,
              tmp: Path, flows_dir: Path) -> int:
    """The fixed-mode run: the walks, then the step page and the bare page in alternating rounds."""
    bare = Server(args, tmp, flows_dir, app=args.bare_app, name="bare")
    loads = [os.getloadavg()]
    try:
        print(f"fixed phase: {args.walks} users walk once each, {args.users} at a time", file=sys.stderr)
        fixed = run_phase("fixed", args, server, scenarios, args.walks * 5.0 + 60)
        loads.append(os.getloadavg())
        bare.start()
        run_phase("bare", args, bare, scenarios, 1.0)  # warm-up
        pages = start_step_pages(server, scenarios, args.users, args.timeout)
        steps, bares = [], []
        for r in range(args.compare_rounds):
            for phase in (("step_get", "bare") if r % 2 == 0 else ("bare", "step_get")):
                print(f"round {r + 1}: {phase}, {args.users} users for {args.compare_seconds:g} s", file=sys.stderr)
                if phase == "step_get":
                    steps.append(run_phase(phase, args, server, pages, args.compare_seconds))
                else:
                    bares.append(run_phase(phase, args, bare, scenarios, args.compare_seconds))
        loads.append(os.getloadavg())
    finally:
        bare.stop()
    server.stop()
    db = check_database(server.url, warm["walk_ids"] + fixed["walk_ids"], baseline)
    text, summary, met = report_fixed(args, command, server, bare, scenarios, skipped, warm, fixed, steps, bares,
                                      db, loads)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    for s in (server, bare):
        if s.log.exists() and s.log.stat().st_size:
            print(f"server log (last lines of {s.log}):\n{s.log_tail(15)}", file=sys.stderr)
    return 0 if met else 1


def _rate(runs: list, kind: str) -> tuple:
    """(requests per second over all rounds, every latency) of one kind."""
    count = sum(len(r["latencies"].get(kind, [])) for r in runs)
    elapsed = sum(r["elapsed"] for r in runs)
    return (count / elapsed if elapsed > 0 else 0.0), [ms for r in runs for ms in r["latencies"].get(kind, [])]


def report_fixed(args, command: str, server: Server, bare: Server, scenarios: list, skipped: list, warm: dict,
                 fixed: dict, steps: list, bares: list, db: dict, loads: list) -> tuple:
    lat = fixed["latencies"]
    requests = lat.get("request", [])
    elapsed = fixed["elapsed"]
    shown = sum(1 for numbers in fixed["tickets"].values() if numbers)
    tickets_per_s = shown / elapsed if elapsed > 0 else 0.0
    step_rate, step_lat = _rate(steps, "step_get")
    bare_rate, bare_lat = _rate(bares, "bare")
    ratio = step_rate / bare_rate if bare_rate else float("nan")
    errors = Counter(fixed["errors"])
    for run in steps + bares:
        errors.update(run["errors"])
    submitted = set(fixed["submitted"]) | set(warm["submitted"])
    seen = {w: set(n) for w, n in {**warm["tickets"], **fixed["tickets"]}.items()}
    mismatched = [w for w, numbers in seen.items() if sorted(numbers) != sorted(db["by_walk"].get(w, []))]
    lost = [w for w in submitted if not db["by_walk"].get(w)]
    multi = [w for w, n in db["by_walk"].items() if len(n) > 1] + [w for w, n in seen.items() if len(n) > 1]
    tickets_ok = db["opened"] == len(submitted) and not lost and not multi and not db["doubled"] and not mismatched
    kind = "sqlite" if args.database == "sqlite" else "postgresql"
    aim_rate = AIM_TICKETS_PER_S[kind]
    p95 = pct(requests, 95)
    database = "SQLite (fresh, temporary)" if kind == "sqlite" else "PostgreSQL (the given --database URL)"

    lines = [f"### {args.walks} users walking once, {args.users} at a time, no pause ({database})", "",
             "| walks | at a time | elapsed | tickets/s | request p50 / p95 / p99 ms | errors "
             "| tickets opened / walks | step GET req/s | bare page req/s | ratio |",
             "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
             f"| {args.walks} | {args.users} | {elapsed:.1f} s | {tickets_per_s:.1f} "
             f"| {pct(requests, 50):.1f} / {p95:.1f} / {pct(requests, 99):.1f} | {sum(errors.values())} "
             f"| {shown} / {args.walks} | {step_rate:.0f} | {bare_rate:.0f} | {ratio:.2f} |", ""]
    aims = [
        (f"at least {aim_rate:g} tickets/s ({kind})", tickets_per_s >= aim_rate,
         f"{shown} tickets in {elapsed:.1f} s = {tickets_per_s:.1f}/s"),
        (f"p95 per request under {AIM_REQUEST_P95_MS:g} ms", p95 < AIM_REQUEST_P95_MS,
         f"p95 {p95:.1f} ms over {len(requests)} requests"),
        (f"step GET at least {AIM_STEP_RATIO:g} of a bare Flask page", ratio >= AIM_STEP_RATIO,
         f"{step_rate:.0f} / {bare_rate:.0f} = {ratio:.2f}"),
        ("zero errors", not errors, f"{sum(errors.values())} error(s)"),
        ("tickets == walks", tickets_ok and shown == args.walks,
         f"{shown} of {args.walks} walks showed a ticket number; the database has {db['opened']} tickets for "
         f"{len(submitted)} submitted contact forms (warm-up included); {len(lost)} lost, "
         f"{len(set(multi)) + len(db['doubled'])} doubled, {len(mismatched)} shown number(s) differing"),
    ]
    lines += ["| aim | met | figure |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {figure} |" for name, ok, figure in aims]
    lines += ["", "| request | count | per s | p50 ms | p95 ms | p99 ms |", "|---|---:|---:|---:|---:|---:|"]
    rows = [("every request of the walks (the p95 aim)", requests, elapsed)]
    rows += [(KIND_LABELS[k], lat.get(k, []), elapsed) for k in ("search", "flow_page", "transition", "contact")]
    rows += [("step page `GET /walks/<id>/<n>` (own phase)", step_lat, sum(r["elapsed"] for r in steps)),
             ("bare Flask page `GET /` (own phase)", bare_lat, sum(r["elapsed"] for r in bares))]
    for label, values, seconds in rows:
        if values:
            lines.append(f"| {label} | {len(values)} | {len(values) / seconds:.1f} | {pct(values, 50):.1f} "
                         f"| {pct(values, 95):.1f} | {pct(values, 99):.1f} |")
    fc = fixed["cpu_window"]
    cores = os.cpu_count() or 1
    sc = [r["cpu_window"] for r in steps]
    bc = [r["cpu_window"] for r in bares]
    step_cpu = sum(c["server"] for c in sc) / max(1, len(step_lat))
    bare_cpu = sum(c["server"] for c in bc) / max(1, len(bare_lat))
    lines += ["",
              f"- Walks: {args.walks} users, each a fresh browser walking one scripted walk (user i takes walk "
              f"i mod {len(scenarios)}) from the search to the ticket number: `GET /?q=word`, `GET /flows/<id>`, "
              f"each answer `POST` + `GET` of the next page, the contact form `POST` + `GET` of the end page. "
              f"{args.users} run at a time ({max(1, min(args.clients, args.users))} processes × threads), no pause. "
              f"{len(requests)} requests; tickets/s = walks that showed a ticket number ÷ time from the first "
              f"request to the last walk's end.",
              f"- Step page against bare page: {args.compare_rounds} rounds of {args.compare_seconds:g} s each, "
              f"alternating, {args.users} users each. Step page: {args.users} walks are started beforehand (step 1 "
              f"shown and answered, as a browser does); each user then reloads its walk's step 2 page with the "
              f"walk's session cookie, not signed in: the portal's whole request (session, sign-in check, CSRF "
              f"token, walk look-up, render). Bare page: `{args.bare_app}`, a small template of the "
              f"step page's shape, no database, session or CSRF. Server CPU per request: step page "
              f"{step_cpu * 1000:.2f} ms, bare page {bare_cpu * 1000:.2f} ms.",
              f"- CPU, walk phase: gunicorn {fc['server']:.1f} s ({_per_request(fc['server'], len(requests))}), "
              f"load generator {fc['loadgen']:.1f} s, the rest of the machine {fc['others']:.1f} s"
              f"{' (' + ', '.join(fc['top_others']) + ')' if fc['top_others'] else ''}, machine busy "
              f"{fc['machine']:.1f} of {fc['elapsed'] * cores:.1f} core-seconds.",
              "- Load average (1 min) at the start, after the walks, at the end: "
              + ", ".join(f"{la[0]:.2f}" for la in loads) + ".",
              f"- Server: `{server.command}`; bare page: `{bare.command}` (env: DATABASE_URL, SECRET_KEY, FLOWS_DIR, "
              "RATELIMIT_ENABLED=false).",
              f"- Machine: {machine()}.",
              f"- Command: `{command}`", ""]
    others = [c["others"] / (c["elapsed"] * cores) for c in [fc, *sc, *bc] if c["elapsed"] > 0]
    if others and max(others) > 0.1:
        lines += [f"**Warning:** other processes on this machine used up to {max(others):.0%} of its CPU during "
                  "a phase; these figures are lower than a quiet machine would give.", ""]
    if skipped:
        lines += ["Tests not scripted:", *[f"- {s}" for s in skipped], ""]
    samples = fixed["samples"] + [x for r in steps + bares for x in r["samples"]]
    if samples:
        lines += ["Errors by kind: " + ", ".join(f"{k} × {v}" for k, v in errors.most_common()), "",
                  "```", *samples[:10], "```", ""]
    summary = {"mode": "fixed", "walks": args.walks, "concurrency": args.users, "database": kind,
               "elapsed": elapsed, "tickets_per_s": tickets_per_s, "tickets_shown": shown,
               "request_p50_ms": pct(requests, 50), "request_p95_ms": p95, "request_p99_ms": pct(requests, 99),
               "errors": sum(errors.values()), "errors_by_kind": dict(errors), "tickets_opened": db["opened"],
               "tickets_ok": tickets_ok, "step_get_per_s": step_rate, "bare_per_s": bare_rate, "ratio": ratio,
               "step_cpu_ms": step_cpu * 1000, "bare_cpu_ms": bare_cpu * 1000,
               "server_cpu_ms_per_request": fc["server"] / max(1, len(requests)) * 1000, "cpu_walk": fc,
               "loadavg": loads, "workers": args.workers, "threads": args.threads, "machine": machine(),
               "command": command, "date": date.today().isoformat()}
    return "\n".join(lines), summary, all(ok for _, ok, _ in aims)


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=50, help="concurrent simulated users (default 50)")
    p.add_argument("--duration", type=float, default=20, help="seconds of walking (default 20)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    p.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"],
                   help="gunicorn's worker class (default gthread; sync: one request at a time, no keep-alive)")
    p.add_argument("--flows-dir", default="flows", help="flows to walk and serve (default flows)")
    p.add_argument("--database", default="sqlite",
                   help="'sqlite' for a fresh temporary SQLite file (default), or a SQLAlchemy URL: it is "
                        "upgraded and walks and tickets are written to it")
    p.add_argument("--plain-duration", type=float, default=5, help="seconds of plain `GET /` (default 5)")
    p.add_argument("--clients", type=int, default=2, help="load-generator processes (default 2)")
    p.add_argument("--timeout", type=float, default=30, help="per-request timeout, seconds (default 30)")
    p.add_argument("--think", type=float, default=0.0,
                   help="mean seconds a user reads each page before the next click, walk phase only "
                        "(default 0: a closed loop at full speed)")
    p.add_argument("--double-submit", type=float, default=0.0,
                   help="share of walks that send the contact form twice (default 0)")
    p.add_argument("--app", default="app:app", help="the WSGI app gunicorn serves (default app:app)")
    p.add_argument("--walks", type=int, default=0,
                   help="fixed mode: this many users (e.g. 200) each walk once to a ticket, --users at a time "
                        "(e.g. 32), no pause; reports tickets/s and the p95 of every request, then compares "
                        "the step page with a bare Flask page (default 0: the timed loop above)")
    p.add_argument("--compare-rounds", type=int, default=3,
                   help="fixed mode: rounds of step page GETs and bare page GETs, alternating (default 3)")
    p.add_argument("--compare-seconds", type=float, default=4,
                   help="fixed mode: seconds of each step page or bare page phase (default 4)")
    p.add_argument("--bare-app", default="bench.bare_app:app",
                   help="fixed mode: the bare Flask page, served by the same gunicorn settings "
                        "(default bench.bare_app:app)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (database, server log)")
    return p.parse_args(argv)


def _flows_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_absolute() and not path.is_dir():
        path = ROOT / value
    return path.resolve()


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)
                                                             if sys.argv[0].endswith(".py") else sys.argv[0],
                                                             *sys.argv[1:]])
    flows_dir = args.flows_dir_path = _flows_dir(args.flows_dir)
    if not flows_dir.is_dir():
        print(f"no such flows directory: {flows_dir}", file=sys.stderr)
        return 2
    scenarios, skipped = build_scenarios(flows_dir)
    if not scenarios:
        print(f"no test in {flows_dir} ends escalated through scriptable steps:", *skipped, sep="\n  ",
              file=sys.stderr)
        return 2
    print(f"{len(scenarios)} scripted walks from {flows_dir}", file=sys.stderr)

    def _terminate(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    tmp = Path(tempfile.mkdtemp(prefix="walk-load-"))
    server = Server(args, tmp, flows_dir)
    try:
        print(f"preparing the database ({'temporary SQLite' if args.database == 'sqlite' else 'given URL'})",
              file=sys.stderr)
        server.prepare()
        baseline = max_ticket_id(server.url)
        server.start()
        print(f"gunicorn on 127.0.0.1:{server.port} (pid {server.proc.pid}, workers {server.worker_pids()})",
              file=sys.stderr)
        warm_args = argparse.Namespace(**{**vars(args), "users": min(len(scenarios), args.users), "clients": 1})
        print("warm-up: 2 s, one user per scripted walk", file=sys.stderr)
        warm = run_phase("walk", warm_args, server, scenarios, 2.0)
        if args.walks:
            return run_fixed(args, command, server, scenarios, skipped, warm, baseline, tmp, flows_dir)
        print(f"walk phase: {args.users} users for {args.duration:g} s", file=sys.stderr)
        walk = run_phase("walk", args, server, scenarios, args.duration)
        print(f"plain page phase: {args.users} users for {args.plain_duration:g} s", file=sys.stderr)
        plain = run_phase("plain", args, server, scenarios, args.plain_duration)
        server.stop()
        db = check_database(server.url, warm["walk_ids"] + walk["walk_ids"], baseline)
        text, summary, met = report(args, command, server, scenarios, skipped, walk, plain, db, warm)
        print(text)
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=2, default=str) + "\n")
        if server.log.exists() and server.log.stat().st_size:
            print(f"server log (last lines of {server.log}):\n{server.log_tail(15)}", file=sys.stderr)
        return 0 if met else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        server.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
