"""Queue load test: the technicians' queue and ticket pages over a database of many tickets.

    python bench/queue_load.py [--tickets 100000] [--database sqlite|postgresql|both] [--requests 200]

What it does, for each database asked for:

1. Builds the database: SQLite in a temporary file, or PostgreSQL in the dedicated database
   ``bench_queue`` on 127.0.0.1:5432 (created if missing; its ``public`` schema is dropped and
   rebuilt, so never point ``--pg-url`` at a database you care about: names without "bench" are
   refused). The schema comes from ``portal.database.create_schema()``. Rows go in with Core
   executemany in batches of 5,000: ``--tickets`` tickets created over the last two years (about
   10% still new, open or pending, the recent ones most of all; 8 queues; 4 priorities; 10
   technicians; 5,000 requesters; SLA due times from the priority and the creation time), a
   "created" event for each, a first reply with its event for each ticket past "new", status
   events for resolved and closed ones, 1% of tickets linked, a few merged. Two tickets are the
   ones whose pages are timed: an ordinary open ticket (a handful of messages and events) and one
   with 50 messages (each with its event) plus a transcript and attachments. PostgreSQL then gets
   ``VACUUM ANALYZE`` (the state autovacuum keeps a real database in); SQLite gets ``ANALYZE``
   only with ``--sqlite-analyze`` (the portal never runs it on the embedded database).
2. Signs a technician in through the real sign-in form and requests each page through Flask's
   test client: the real view, template and database, without the noise of a network and of an
   HTTP server (the figure is the portal's own time to answer). Every page is requested in turn,
   ``--warmup`` rounds untimed, then ``--requests`` rounds timed, one request after the other.
3. Counts the SQL statements of each request (a ``before_cursor_execute`` listener) and times
   each statement (``after_cursor_execute``); for every page over the aim, it shows the plan of
   its slowest statement (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN (ANALYZE, BUFFERS)`` on
   PostgreSQL).
4. Prints a Markdown report per database: p50/p95/max per page, statements per request, rows
   shown, the slowest statement; the machine and the command. Exit status 1 when a p95 is over
   the aim (100 ms) or when the statement counts of the queue pages (or of the ticket pages)
   differ.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import re
import shlex
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project: app.py, portal/, flows/
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

AIM_P95_MS = 100.0
BATCH = 5_000
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_queue"
PASSWORD = "queue load bench"
DAY = timedelta(days=1)

QUEUES = {"general": 25, "hardware": 15, "software": 15, "accounts": 12, "network": 10, "email": 10,
          "printing": 8, "security": 5}
PRIORITIES = {"low": 15, "normal": 60, "high": 20, "urgent": 5}
SOURCES = {"web": 45, "email": 30, "phone": 15, "walk": 10}
SLA_HOURS = {"urgent": (1, 4), "high": (4, 24), "normal": (24, 72), "low": (72, 240)}  # as portal.desk.sla
TECHNICIANS = ["Alex Moreau", "Priya Natarajan", "Sam Okafor", "Jo Lindqvist", "Mei Tanaka", "Diego Ruiz",
               "Hannah Becker", "Tom Walsh", "Aisha Rahman", "Lukas Novak"]
TECH_WEIGHTS = [14, 13, 12, 11, 10, 10, 9, 8, 7, 6]
_FIRST = ("Ann Ben Carla Dev Eva Femi Gus Hana Ivan Jade Kofi Lena Marco Nia Omar Pia Quinn Raj Sara Theo Uma Vik "
         "Wen Xavi Yara Zane Ada Bo Cleo Dan Elif Finn Gia Hugo Iris Jon Kai Lou Max Noor Otto Paz Rosa Sven "
         "Tara Ugo Vera Will Yuki Zoe")
_LAST = ("Smith Jones Garcia Müller Rossi Dubois Kowalski Silva Chen Wang Kim Park Singh Patel Khan Ali Cohen Levi "
        "Novak Horvat Nagy Popescu Ivanova Petrov Hansen Berg Nilsen Virtanen Murphy Kelly Walsh Byrne Evans "
        "Hughes Wright Green Baker Adams Clark Lewis Young Hall Allen King Scott Hill Moore Ward Cox Reed Bell "
        "Gray Cook Ross Wood Price Long Diaz Ortiz Reyes Cruz Flores Ramos Torres Vargas Castro Mendes Costa "
        "Santos Pereira Alves Lopes Sousa Gomes Lima Rocha Dias Nunes Moreira Teixeira Barbosa Araujo Fischer "
        "Weber Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Braun Zimmer Hartmann Lange Krause Brandt")
FIRST, LAST = _FIRST.split(), _LAST.split()
THINGS = ["laptop", "printer", "monitor", "VPN", "Outlook", "Teams", "Wi-Fi", "password", "phone", "docking station",
          "keyboard", "shared drive", "SharePoint", "Excel", "Zoom", "badge", "headset", "scanner", "account",
          "calendar", "mailbox", "webcam", "MFA app", "projector", "SAP login"]
TROUBLES = ["won't turn on", "is very slow", "keeps disconnecting", "shows an error",
            "stopped working after the update", "can't sign in",
            "needs replacing", "asks for my password every time", "is locked", "has no sound",
            "flickers", "won't sync", "access request", "crashes on start", "is missing", "not working at all"]
TAILS = ["", "", "", " since Monday", " in meeting room 3", " (urgent)", " again", " for the new starter",
         " after moving desks", " on the train"]
REPLIES = ["Thanks for reporting this. Could you restart the device and tell us if the problem persists?",
           "I've reset it on our side; please try again and let me know.",
           "We're ordering a replacement; it should arrive within three working days.",
           "Can you send a photo of the error message?"]
SEARCH_WORD = "printer"  # q=<a word>: a word in about 1 subject in 25
QUEUE_FILTER = "hardware"


# --- the data ------------------------------------------------------------------------------------


def _pick(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _status(rng: random.Random, age: timedelta) -> str:
    """Recent tickets are mostly still being worked on; a few old ones were never closed (~10% active)."""
    if age < 30 * DAY:
        active, resolved = 0.9, 0.07
    elif age < 120 * DAY:
        active, resolved = 0.2, 0.15
    else:
        active, resolved = 0.025, 0.005
    r = rng.random()
    if r < active:
        if age < 7 * DAY:
            return rng.choices(["new", "open", "pending"], [50, 35, 15])[0]
        return rng.choices(["new", "open", "pending"], [10, 55, 35])[0]
    return "resolved" if r < active + resolved else "closed"


@dataclass
class Built:
    """What the benchmark needs to know about the data it made."""

    tickets: int = 0
    by_status: dict = field(default_factory=dict)
    messages: int = 0
    events: int = 0
    links: int = 0
    me_id: int = 1
    me_email: str = ""
    ordinary: int = 0  # ticket ids of the timed ticket pages
    big: int = 0
    sizes: dict = field(default_factory=dict)  # ticket id: (messages, events, attachments)
    seconds: float = 0.0


class Generator:
    """Rows for Core executemany, batch after batch; ids are given so that events can name messages."""

    def __init__(self, n: int, seed: int, now: datetime):
        self.n, self.now, self.rng = n, now, random.Random(seed)
        self.message_id = 0
        self.event_id = 0
        names = [(f, la) for f in FIRST for la in LAST]
        self.rng.shuffle(names)
        self.requesters = []  # (user id, name, email)
        for i, (first, last) in enumerate(names[:5000]):
            email = f"{first}.{last}".lower().replace("ü", "ue") + "@example.com"
            self.requesters.append((len(TECHNICIANS) + 1 + i, f"{first} {last}", email))
        # Creation times over two years, ids in creation order, a little busier lately.
        span = 730 * 86400
        self.created = sorted(now - timedelta(seconds=span * self.rng.random() ** 1.15) for _ in range(n))

    def users(self) -> list:
        hashed = generate_password_hash(PASSWORD, method="scrypt")
        since = self.now - 800 * DAY
        rows = [{"id": i, "email": name.lower().replace(" ", ".") + "@it.example.com", "name": name,
                 "password_hash": hashed, "role": "technician", "active": True, "created_at": since}
                for i, name in enumerate(TECHNICIANS, 1)]
        rows += [{"id": uid, "email": email, "name": name, "password_hash": None, "role": "requester",
                  "active": True, "created_at": since} for uid, name, email in self.requesters]
        return rows

    def _message(self, ticket_id, at, body, *, author=None, author_name="", internal=False, requester=False):
        self.message_id += 1
        return {"id": self.message_id, "ticket_id": ticket_id, "author_id": author, "author_name": author_name,
                "body": body, "internal": internal, "from_requester": requester, "request_key": None,
                "created_at": at}

    def _event(self, ticket_id, at, kind, *, actor=None, actor_name="", old=None, new=None, message_id=None):
        self.event_id += 1
        return {"id": self.event_id, "ticket_id": ticket_id, "actor_id": actor, "actor_name": actor_name,
                "kind": kind, "old": old, "new": new, "message_id": message_id, "created_at": at}

    def batches(self):
        """(tickets, messages, events) per batch of BATCH tickets."""
        for start in range(1, self.n + 1, BATCH):
            tickets, messages, events = [], [], []
            for ticket_id in range(start, min(start + BATCH, self.n + 1)):
                self._ticket(ticket_id, tickets, messages, events)
            yield tickets, messages, events

    def _ticket(self, ticket_id: int, tickets: list, messages: list, events: list) -> None:
        rng, now = self.rng, self.now
        created = self.created[ticket_id - 1]
        status = _status(rng, now - created)
        priority = _pick(rng, PRIORITIES)
        response_h, resolution_h = SLA_HOURS[priority]
        requester_id, name, email = rng.choice(self.requesters)
        unassigned = {"new": 0.8, "open": 0.05, "pending": 0.05}.get(status, 0.03)
        assignee = None if rng.random() < unassigned else rng.choices(range(1, 11), TECH_WEIGHTS)[0]
        left = max((now - created).total_seconds() - 60, 0.0)  # every time below lies before now
        source = _pick(rng, SOURCES)

        def later(hours: float) -> datetime:
            return created + timedelta(seconds=min(hours * 3600, left))

        first_response = None if status == "new" else later(response_h * rng.uniform(0.05, 1.4))
        resolved = closed = paused = None
        if status in ("resolved", "closed"):
            resolved = max(later(resolution_h * rng.uniform(0.1, 1.6)), first_response)
        if status == "closed":
            closed = min(resolved + timedelta(days=rng.choice([0, 3, 7])), now - timedelta(minutes=1))
            closed = max(closed, resolved)
        if status == "pending":
            paused = max(created + (now - created) * rng.uniform(0.1, 0.95), first_response)
        merged_into = None
        if status == "closed" and ticket_id > 60 and rng.random() < 0.004:
            merged_into = ticket_id - rng.randint(1, 50)
        subject = f"{rng.choice(THINGS).capitalize()} {rng.choice(TROUBLES)}{rng.choice(TAILS)}"
        subject = subject[0].upper() + subject[1:]
        tickets.append({
            "id": ticket_id, "walk_id": None, "request_key": None, "requester_id": requester_id,
            "requester_name": name, "requester_email": email, "subject": subject,
            "description": f"{subject}. I have tried restarting. Desk {rng.randint(1, 400)}, ext. "
                           f"{rng.randint(2000, 7999)}.",
            "queue": _pick(rng, QUEUES), "priority": priority, "status": status, "flow_id": None,
            "flow_title": None, "flow_version": None, "transcript": [], "form_values": {}, "client_facts": {},
            "failure": None, "source": source, "assignee_id": assignee, "merged_into_id": merged_into,
            "response_due_at": created + timedelta(hours=response_h),
            "resolution_due_at": created + timedelta(hours=resolution_h), "first_response_at": first_response,
            "paused_at": paused, "paused_seconds": 0, "resolved_at": resolved, "closed_at": closed,
            "created_at": created, "updated_at": max(t for t in (created, first_response, resolved, closed, paused)
                                                     if t is not None),
        })
        events.append(self._event(ticket_id, created, "created", actor_name=name, new=source))
        tech_name = TECHNICIANS[(assignee or 1) - 1]
        if first_response is not None:
            message = self._message(ticket_id, first_response, rng.choice(REPLIES), author=assignee or 1,
                                    author_name=tech_name)
            messages.append(message)
            events.append(self._event(ticket_id, first_response, "reply", actor=assignee or 1, actor_name=tech_name,
                                      message_id=message["id"]))
        if resolved is not None:
            events.append(self._event(ticket_id, resolved, "status", actor=assignee, actor_name=tech_name,
                                      old="open", new="resolved"))
        if closed is not None:
            events.append(self._event(ticket_id, closed, "status", actor=assignee, actor_name=tech_name,
                                      old="resolved", new="closed"))
        if paused is not None:
            events.append(self._event(ticket_id, paused, "status", actor=assignee, actor_name=tech_name,
                                      old="open", new="pending"))

    def links(self) -> list:
        pairs = set()
        while len(pairs) < max(1, self.n // 100):
            a = self.rng.randint(1, self.n)
            b = min(self.n, a + self.rng.randint(1, 500))
            if a != b:
                pairs.add((a, b))
        return [{"ticket_id": a, "other_id": b, "created_at": self.now - DAY} for a, b in sorted(pairs)]

    def page_tickets(self, ordinary: int, big: int, me: int) -> tuple:
        """Messages and events of the two timed tickets (both open, assigned to the signed-in technician)."""
        rng, now = self.rng, self.now
        messages, events = [], []
        at = now - timedelta(hours=5)
        for kind, body, internal, requester in [
                ("reply", "It happens every morning since the update.", False, True),
                ("reply", REPLIES[0], False, False),
                ("note", "Checked the logs: the driver failed to load.", True, False)]:
            at += timedelta(minutes=40)
            m = self._message(ordinary, at, body, author=None if requester else me,
                              author_name="" if requester else TECHNICIANS[me - 1], internal=internal,
                              requester=requester)
            messages.append(m)
            events.append(self._event(ordinary, at, kind, actor=None if requester else me,
                                      actor_name=m["author_name"], message_id=m["id"]))
        events.append(self._event(ordinary, now - timedelta(hours=4, minutes=50), "assigned", actor=me,
                                  actor_name=TECHNICIANS[me - 1], old="nobody", new=TECHNICIANS[me - 1]))
        events.append(self._event(ordinary, now - timedelta(hours=4, minutes=49), "status", actor=me,
                                  actor_name=TECHNICIANS[me - 1], old="new", new="open"))
        at = now - timedelta(days=6)
        for i in range(50):
            at += timedelta(minutes=rng.randint(20, 150))
            requester, internal = i % 3 == 0, i % 3 == 2
            m = self._message(big, at, f"Message {i + 1}: " + rng.choice(REPLIES) * rng.randint(1, 3),
                              author=None if requester else me,
                              author_name="" if requester else TECHNICIANS[me - 1], internal=internal,
                              requester=requester)
            messages.append(m)
            events.append(self._event(big, at, "note" if internal else "reply", actor=None if requester else me,
                                      actor_name=m["author_name"], message_id=m["id"]))
        for kind, old, new in [("assigned", "nobody", TECHNICIANS[me - 1]), ("status", "new", "open"),
                               ("priority", "normal", "high"), ("queue", "general", "hardware"),
                               ("status", "open", "pending"), ("reopened", "pending", "open")]:
            events.append(self._event(big, now - timedelta(days=5, minutes=rng.randint(0, 600)), kind, actor=me,
                                      actor_name=TECHNICIANS[me - 1], old=old, new=new))
        attachments = [{"message_id": messages[3 + k]["id"], "filename": f"screenshot-{k + 1}.png",
                        "content_type": "image/png", "size": 2048, "data": b"\x89PNG" + bytes(2044),
                        "created_at": messages[3 + k]["created_at"]} for k in range(2)]
        transcript = [{"type": "question", "at": (now - timedelta(days=6)).isoformat(), "title": f"Step {k}",
                       "text": f"Does the **printer** show *Ready*? ({k})", "answer": "No", "value": "no"}
                      for k in range(1, 6)]
        return messages, events, attachments, transcript


def build(app, n: int, seed: int) -> Built:
    """Fill the app's (empty) database; everything in one transaction per table group."""
    from portal.extensions import db
    from portal.models import Attachment, CannedResponse, Message, Queue, Ticket, TicketEvent, TicketLink, User

    started = time.perf_counter()
    now = datetime.now(UTC)
    gen = Generator(n, seed, now)
    built = Built(tickets=n, me_id=1)
    with app.app_context():
        engine = db.engine
        with engine.begin() as conn:
            users = gen.users()
            for i in range(0, len(users), BATCH):
                conn.execute(sa.insert(User), users[i:i + BATCH])
            conn.execute(sa.insert(Queue), [{"name": q, "title": q.title(), "description": "", "active": True}
                                            for q in QUEUES])
            conn.execute(sa.insert(CannedResponse), [{"title": f"Canned {i}", "body": r, "updated_at": now}
                                                     for i, r in enumerate(REPLIES, 1)])
            statuses = {}
            for tickets, messages, events in gen.batches():
                conn.execute(sa.insert(Ticket), tickets)
                if messages:
                    conn.execute(sa.insert(Message), messages)
                conn.execute(sa.insert(TicketEvent), events)
                for t in tickets:
                    statuses[t["status"]] = statuses.get(t["status"], 0) + 1
                built.messages += len(messages)
                built.events += len(events)
                print(f"  {tickets[-1]['id']:,} tickets", end="\r", file=sys.stderr)
            links = gen.links()
            conn.execute(sa.insert(TicketLink), links)
            built.links = len(links)
            # The timed pages: two open tickets of the signed-in technician (recent, so in the default queue).
            open_ids = conn.scalars(sa.select(Ticket.id).where(Ticket.status == "open", Ticket.merged_into_id.is_(None))
                                    .order_by(Ticket.id.desc()).limit(200)).all()
            built.ordinary, built.big = open_ids[100], open_ids[150]
            messages, events, attachments, transcript = gen.page_tickets(built.ordinary, built.big, built.me_id)
            conn.execute(sa.insert(Message), messages)
            conn.execute(sa.insert(TicketEvent), events)
            conn.execute(sa.insert(Attachment), attachments)
            conn.execute(sa.update(Ticket).where(Ticket.id.in_([built.ordinary, built.big]))
                         .values(assignee_id=built.me_id))
            conn.execute(sa.update(Ticket).where(Ticket.id == built.big)
                         .values(transcript=transcript, flow_id="printer-offline", flow_title="Printer offline",
                                 flow_version="bench", source="walk", subject="Printer offline on floor 2, again"))
            conn.execute(sa.insert(TicketLink), [{"ticket_id": built.ordinary, "other_id": built.big,
                                                  "created_at": now}])
            built.messages += len(messages)
            built.events += len(events)
            built.links += 1
            for ticket_id in (built.ordinary, built.big):
                built.sizes[ticket_id] = tuple(conn.scalar(sa.select(sa.func.count()).select_from(model)
                                                           .where(column == ticket_id))
                                               for model, column in ((Message, Message.ticket_id),
                                                                     (TicketEvent, TicketEvent.ticket_id)))
            built.by_status = statuses
            built.me_email = users[0]["email"]
            if engine.dialect.name == "postgresql":
                for table in ("users", "tickets", "messages", "ticket_events", "queues", "canned_responses",
                              "attachments"):
                    conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                         f"(SELECT max(id) FROM {table}))")
    print(file=sys.stderr)
    built.seconds = time.perf_counter() - started
    return built


# --- the databases -------------------------------------------------------------------------------


def _config(url: str, tmp: Path) -> dict:
    """Like tests/conftest.py make_config, but not TESTING and with the shipped flows."""
    return {
        "SECRET_KEY": "queue-load-bench",
        "SQLALCHEMY_DATABASE_URI": url,
        "FLOWS_DIR": str(ROOT / "flows"),
        "FLOWS_RELOAD_SECONDS": 2,
        "WTF_CSRF_ENABLED": False,  # the sign-in is posted without its form's token
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "AUTO_UPGRADE_DB": False,
    }


def prepare_sqlite(tmp: Path, analyze: bool):
    from portal import create_app
    from portal.database import create_schema
    from portal.extensions import db

    app = create_app(_config(f"sqlite:///{tmp / 'queue.db'}", tmp))
    with app.app_context():
        create_schema()
    return app, (lambda: _finish_sqlite(app, db, analyze))


def _finish_sqlite(app, db, analyze: bool) -> str:
    with app.app_context(), db.engine.begin() as conn:
        if analyze:
            conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return "ANALYZE run" if analyze else "no ANALYZE (as the portal leaves its embedded database)"


def prepare_postgresql(url: str, tmp: Path):
    import psycopg

    from portal import create_app
    from portal.database import create_schema
    from portal.extensions import db

    parts = sa.engine.make_url(url)
    name = parts.database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to rebuild the database {name!r}: --pg-url must name a bench database")
    admin = parts.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    app = create_app(_config(url, tmp))
    with app.app_context():
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        create_schema()
    return app, (lambda: _finish_postgresql(app, db))


def _finish_postgresql(app, db) -> str:
    with app.app_context(), db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("VACUUM ANALYZE")
    return "VACUUM ANALYZE run"


# --- timing ---------------------------------------------------------------------------------------


class Statements:
    """Counts and times the SQL statements the app sends."""

    def __init__(self, engine):
        self.log: list = []  # (statement, parameters, seconds) of the current request
        self._start = 0.0
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._start = time.perf_counter()
        self.log.append([statement, parameters, None])

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.log[-1][2] = time.perf_counter() - self._start


@dataclass
class Result:
    label: str
    url: str
    times: list
    counts: set
    rows: int
    statement_ms: list  # median ms of each statement of a request, in order
    statements: list  # (statement, parameters) of the last request
    cpu: list = field(default_factory=list)  # seconds of CPU of this thread per request
    sql: list = field(default_factory=list)  # seconds in the database driver per request
    plan: str = ""

    def pct(self, p: float, values: list | None = None) -> float:
        values = sorted(self.times if values is None else values)
        k = (len(values) - 1) * p / 100
        lo, hi = int(k), min(int(k) + 1, len(values) - 1)
        return (values[lo] + (values[hi] - values[lo]) * (k - lo)) * 1000

    @property
    def slowest(self) -> int:
        return max(range(len(self.statement_ms)), key=lambda i: self.statement_ms[i]) if self.statement_ms else -1


def pages(built: Built) -> list:
    from portal.models import Ticket

    number = built.ordinary + 1000  # Ticket.number
    assert Ticket.id_from_number(number) == built.ordinary
    q = urllib.parse.quote
    return [
        ("queue, default filters (active, due first)", "/desk/"),
        ("status=new", "/desk/?status=new"),
        ("status=pending", "/desk/?status=pending"),
        ("status=all", "/desk/?status=all"),
        ("status=closed (not in the issue's list)", "/desk/?status=closed"),
        (f"queue={QUEUE_FILTER}", f"/desk/?queue={QUEUE_FILTER}"),
        ("priority=urgent", "/desk/?priority=urgent"),
        ("assignee=mine", "/desk/?assignee=mine"),
        ("assignee=unassigned", "/desk/?assignee=unassigned"),
        (f"q={SEARCH_WORD}", f"/desk/?q={SEARCH_WORD}"),
        (f"q=#{number}", f"/desk/?q={q('#' + str(number))}"),
        ("sort=newest", "/desk/?sort=newest"),
        ("sort=priority", "/desk/?sort=priority"),
        ("page=50", "/desk/?page=50"),
        ("ticket page, ordinary ({} messages, {} events)".format(*built.sizes[built.ordinary]),
         f"/desk/tickets/{number}"),
        ("ticket page, long ({} messages, {} events, 2 attachments)".format(*built.sizes[built.big]),
         f"/desk/tickets/{built.big + 1000}"),
    ]


QUEUE_ROW = re.compile(r'<tr id="ticket-\d+"')
TIMELINE_ITEM = re.compile(r'<li class="tl-')


def sign_in(client, email: str) -> None:
    response = client.post("/signin", data={"email": email, "password": PASSWORD})
    if response.status_code != 303:
        raise SystemExit(f"sign-in failed: {response.status_code}")


def measure(app, built: Built, warmup: int, requests: int) -> list:
    """Every page in turn, round after round (so that a busy moment of the machine is shared by all pages)."""
    from portal.extensions import db

    with app.app_context():
        stmts = Statements(db.engine)
    client = app.test_client()
    sign_in(client, built.me_email)
    urls = pages(built)
    for _ in range(warmup):
        for _label, url in urls:
            client.get(url)
    runs = {url: {"times": [], "cpu": [], "sql": [], "counts": set(), "statements": [], "last": [], "body": ""}
            for _label, url in urls}
    for _ in range(requests):
        for _label, url in urls:
            run = runs[url]
            stmts.log = []
            c0, t0 = time.thread_time(), time.perf_counter()
            response = client.get(url)
            run["times"].append(time.perf_counter() - t0)
            run["cpu"].append(time.thread_time() - c0)
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
            run["counts"].add(len(stmts.log))
            run["statements"].append([s[2] or 0.0 for s in stmts.log])
            run["sql"].append(sum(run["statements"][-1]))
            run["last"] = [(s[0], s[1]) for s in stmts.log]
            run["body"] = response.get_data(as_text=True)
    results = []
    for label, url in urls:
        run = runs[url]
        per_statement = run["statements"]
        width = min(len(p) for p in per_statement)
        statement_ms = [statistics.median(p[i] for p in per_statement) * 1000 for i in range(width)]
        rows = len((QUEUE_ROW if url.startswith("/desk/?") or url == "/desk/" else TIMELINE_ITEM).findall(run["body"]))
        result = Result(label, url, run["times"], run["counts"], rows, statement_ms, run["last"], run["cpu"],
                        run["sql"])
        results.append(result)
        flag = "  OVER THE AIM" if result.pct(95) > AIM_P95_MS else ""
        print(f"  {label[:40]:<40} p50 {result.pct(50):6.1f}  p95 {result.pct(95):6.1f}"
              f"  max {max(result.times) * 1000:6.1f}"
              f"  cpu p50 {result.pct(50, result.cpu):6.1f}  sql p50 {result.pct(50, result.sql):6.1f} ms"
              f"  {'/'.join(map(str, sorted(result.counts)))} statements  {rows} rows{flag}", file=sys.stderr)
    return results


TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy() -> float:
    """Core-seconds the whole machine spent busy since boot (everything but idle and iowait); 0 off Linux."""
    with contextlib.suppress(OSError, ValueError):
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(values[:8]) - values[3] - values[4]) / TICKS
    return 0.0


def postgres_cpu() -> float:
    """CPU seconds used so far by the processes called postgres (the server's, on this machine)."""
    total = 0.0
    for entry in Path("/proc").glob("[0-9]*/stat") if Path("/proc").is_dir() else []:
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = entry.read_text()
            if text[text.index("(") + 1:text.rindex(")")] == "postgres":
                fields = text.rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


class CpuWindow:
    """Where the machine's CPU went while the pages were timed: this process, PostgreSQL, the rest."""

    def __init__(self):
        self.t0, self.machine0, self.mine0, self.pg0 = time.perf_counter(), machine_busy(), time.process_time(), \
            postgres_cpu()

    def close(self) -> dict:
        elapsed = time.perf_counter() - self.t0
        machine = machine_busy() - self.machine0
        mine, pg = time.process_time() - self.mine0, postgres_cpu() - self.pg0
        cores = os.cpu_count() or 1
        others = max(0.0, machine - mine - pg)
        return {"elapsed": elapsed, "cores": cores, "machine": machine, "mine": mine, "postgres": pg,
                "others": others, "others_share": others / (elapsed * cores)}


def explain(app, statement: str, parameters) -> str:
    """The plan of one statement as the app sent it."""
    from portal.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return "\n".join(f"{'  ' * _depth(rows, r)}{r[-1]}" for r in rows)
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
        return "\n".join(r[0] for r in rows)


def _depth(rows, row) -> int:
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent:
        depth += 1
        parent = parents.get(parent, 0)
    return depth


# --- the report -------------------------------------------------------------------------------------


def _describe(statement: str) -> str:
    s = " ".join(statement.split())
    if s.startswith("SELECT count("):
        return "count"
    if "GROUP BY tickets.queue, tickets.status" in s:
        return "counts by queue and status"
    if "SELECT DISTINCT tickets.queue" in s:
        return "DISTINCT tickets.queue (queue_names)"
    if "LEFT OUTER JOIN users" in s and "FROM tickets" in s:
        return "page of tickets"
    if "FROM ticket_links" in s:
        return "ticket_links"
    if "FROM ticket_events" in s:
        return "ticket_events"
    if "FROM messages" in s:
        return "messages"
    if "FROM attachments" in s:
        return "attachments"
    if "FROM tickets" in s:
        return "ticket"
    match = re.search(r"FROM (\w+)", s)
    return match.group(1) if match else s[:30]


def machine(pg_version: str | None) -> str:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    text = (f"{platform.platform()}; {os.cpu_count()} CPUs{f' ({cpu})' if cpu else ''}; "
            f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; SQLAlchemy {sa.__version__}")
    if pg_version:
        text += f"; PostgreSQL {pg_version}"
    return text


def report(name: str, built: Built, prepared: str, results: list, args) -> tuple:
    """(Markdown, problems) for one database."""
    active = sum(built.by_status.get(s, 0) for s in ("new", "open", "pending"))
    spread = ", ".join(f"{s} {built.by_status.get(s, 0):,}" for s in ("new", "open", "pending", "resolved", "closed"))
    cpu = args.cpu_window
    lines = [f"#### {name}", "",
             f"{built.tickets:,} tickets ({spread}; {active / built.tickets:.1%} active), {built.messages:,} messages, "
             f"{built.events:,} timeline events, {built.links:,} links; loaded in {built.seconds:.0f} s, "
             f"{prepared}. {args.requests} timed requests per page (every page in turn, round after round) after "
             f"{args.warmup} warm-up round{'' if args.warmup == 1 else 's'}.", "",
             "| page | p50 ms | p95 ms | max ms | CPU p50 / p95 ms | SQL p50 ms | SQL statements / request "
             "| rows shown | slowest statement (median ms) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    problems = []
    for r in results:
        p95 = r.pct(95)
        over = p95 > AIM_P95_MS
        if over:
            problems.append(f"{name}: {r.label} p95 {p95:.1f} ms is over {AIM_P95_MS:g} ms")
        slow = r.slowest
        slowest = f"{_describe(r.statements[slow][0])} {r.statement_ms[slow]:.1f}" if slow >= 0 else "—"
        counts = "/".join(str(c) for c in sorted(r.counts)) + ("" if len(r.counts) == 1 else " (varies)")
        p95_text = f"**{p95:.1f} (over {AIM_P95_MS:g})**" if over else f"{p95:.1f}"
        lines.append(f"| {r.label} `{r.url}` | {r.pct(50):.1f} | {p95_text} | {max(r.times) * 1000:.1f} "
                     f"| {r.pct(50, r.cpu):.1f} / {r.pct(95, r.cpu):.1f} | {r.pct(50, r.sql):.1f} | {counts} "
                     f"| {r.rows} | {slowest} |")
    queue_counts = {c for r in results if r.url.startswith("/desk/?") or r.url == "/desk/" for c in r.counts}
    ticket_counts = {c for r in results if r.url.startswith("/desk/tickets/") for c in r.counts}
    for what, counts in (("queue pages", queue_counts), ("ticket pages", ticket_counts)):
        if len(counts) != 1:
            problems.append(f"{name}: the {what} do not all take the same number of statements: {sorted(counts)}")
    lines += ["", f"Statements per request: every queue page {'/'.join(map(str, sorted(queue_counts)))} "
                  f"(whether it shows 50 rows or 1), both ticket pages "
                  f"{'/'.join(map(str, sorted(ticket_counts)))} (a few messages or 50). "
                  + ("Every p95 is under the aim." if not any(r.pct(95) > AIM_P95_MS for r in results)
                     else "**Some p95 are over the aim.**"),
              "",
              f"CPU while timing ({cpu['elapsed']:.0f} s, {cpu['cores']} cores): this process {cpu['mine']:.1f} s, "
              f"PostgreSQL {cpu['postgres']:.1f} s, other processes {cpu['others']:.1f} s "
              f"({cpu['others_share']:.0%} of the machine)."
              + (" **Other processes were busy: the wall-clock figures are higher than a quiet machine gives; the "
                 "CPU columns (this thread) are less affected.**" if cpu["others_share"] > 0.1 else ""), ""]
    for r in results:
        if r.plan:
            statement = r.statements[r.slowest][0]
            lines += [f"Plan of the slowest statement of `{r.url}` ({_describe(statement)}, "
                      f"{r.statement_ms[r.slowest]:.1f} ms):", "", "```sql", " ".join(statement.split()),
                      "```", "", "```", r.plan, "```", ""]
    return "\n".join(lines), problems


# --- main ---------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tickets", type=int, default=100_000, help="tickets in the database (default 100000)")
    p.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both",
                   help="which database to build and time (default both)")
    p.add_argument("--requests", type=int, default=200, help="timed requests per page (default 200)")
    p.add_argument("--warmup", type=int, default=10, help="untimed rounds of every page first (default 10)")
    p.add_argument("--pg-url", default=PG_URL, help=f"the PostgreSQL bench database, rebuilt (default {PG_URL})")
    p.add_argument("--sqlite-analyze", action="store_true",
                   help="run ANALYZE on the SQLite database after loading (the portal itself never does)")
    p.add_argument("--explain", action="store_true",
                   help="show the plan of every page's slowest statement, not only of pages over the aim")
    p.add_argument("--seed", type=int, default=1, help="random seed of the data (default 1)")
    p.add_argument("--output", help="also write the Markdown report to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (the SQLite database)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)
                                                             if sys.argv[0].endswith(".py") else sys.argv[0],
                                                             *sys.argv[1:]])
    tmp = Path(tempfile.mkdtemp(prefix="queue-load-"))
    sections, problems, pg_version = [], [], None
    try:
        for name in (["sqlite", "postgresql"] if args.database == "both" else [args.database]):
            print(f"{name}: building {args.tickets:,} tickets", file=sys.stderr)
            if name == "sqlite":
                app, finish = prepare_sqlite(tmp, args.sqlite_analyze)
                title = "SQLite (temporary file, WAL)"
            else:
                app, finish = prepare_postgresql(args.pg_url, tmp)
                title = f"PostgreSQL (database `{sa.engine.make_url(args.pg_url).database}` on 127.0.0.1)"
            built = build(app, args.tickets, args.seed)
            prepared = finish()
            from portal.extensions import db

            with app.app_context():
                if db.engine.dialect.name == "postgresql":
                    with db.engine.connect() as conn:
                        pg_version = conn.exec_driver_sql("SHOW server_version").scalar()
                db.engine.dispose()  # the timed requests start on fresh connections (pragmas set)
            print(f"{name}: built in {built.seconds:.0f} s ({prepared}); timing", file=sys.stderr)
            window = CpuWindow()
            results = measure(app, built, args.warmup, args.requests)
            args.cpu_window = window.close()
            for r in results:
                if (args.explain or r.pct(95) > AIM_P95_MS) and r.slowest >= 0:
                    statement, parameters = r.statements[r.slowest]
                    r.plan = explain(app, statement, parameters)
            text, found = report(title, built, prepared, results, args)
            sections.append(text)
            problems += found
            with app.app_context():
                db.engine.dispose()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    out = [f"### {args.tickets:,} tickets, {date.today().isoformat()}", "", *sections,
           "- Client: Flask's test client in one process (the real views, templates and databases; no HTTP "
           "server or network in the figures), requests one after the other. CPU: this thread's CPU time per "
           "request (on SQLite it includes the database's work; on PostgreSQL the server's work is not in it). "
           "SQL: time in the driver's `cursor.execute` per request (on PostgreSQL the whole result arrives in it; "
           "on SQLite the rows after the first are read later).",
           f"- Aim: p95 under {AIM_P95_MS:g} ms per page, and a fixed number of statements per page.",
           f"- Machine: {machine(pg_version)}.", f"- Command: `{command}`", ""]
    if problems:
        out += ["**Problems:**", *[f"- {p}" for p in problems], ""]
    text = "\n".join(out)
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
