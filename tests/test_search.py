"""Flow search: full text on SQLite (FTS5) and PostgreSQL (tsvector), typos, syncing, misses."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.flows.lint import check_text
from portal.models import Role, SearchMiss, User
from portal.search import (
    create_search_schema,
    drop_search_schema,
    find,
    normalize_query,
    record_miss,
    reset_index,
    services,
    sync_index,
)

from . import conftest


def _reset_search(conn):
    create_search_schema(conn)  # no-op when present; the tables are not in db.metadata
    reset_index(conn)


if _reset_search not in conftest._PG_TRUNCATE_EXTRA:
    conftest._PG_TRUNCATE_EXTRA.append(_reset_search)


def make_flow(flow_id, title, *, text="Did that fix it?", option="It works now", summary=None, keywords=(),
              category=None):
    """A small valid flow; every string goes through JSON, which is YAML 1.2."""
    lines = [f"id: {flow_id}", f"title: {json.dumps(title)}"]
    if summary:
        lines.append(f"summary: {json.dumps(summary)}")
    if category:
        lines.append(f"category: {json.dumps(category)}")
    if keywords:
        lines.append(f"keywords: {json.dumps(list(keywords))}")
    lines += [
        "start: ask",
        "steps:",
        "  ask:",
        "    type: question",
        f"    text: {json.dumps(text)}",
        "    options:",
        f"      - label: {json.dumps(option)}",
        "        next: done",
        '      - label: "No"',
        "        next: stuck",
        "  done:",
        "    type: resolved",
        "    text: Good.",
        "  stuck:",
        "    type: escalate",
        "    text: A technician will take it from here.",
    ]
    checked = check_text("\n".join(lines) + "\n", f"{flow_id}.yaml")
    assert checked.ok, checked.findings
    return checked.flow


LIBRARY = [
    make_flow("printer", "Printer offline", text="Check the cable at the back.", keywords=["toner"],
              category="Printers"),
    make_flow("outlook", "Outlook hangs on start", summary="Outlook freezes after an update.",
              keywords=["email", "mail client"], text="Start it in safe mode."),
    make_flow("wifi", "Wi-Fi connected but no internet", text="Do other websites load?"),
    make_flow("slow-internet", "Slow internet at home", text="Run a speed test."),
    make_flow("vpn", "VPN will not connect", text="Open the AnyConnect client and type your password again.",
              option="It says certificate expired"),
    make_flow("password", "Forgotten password", keywords=["locked account", "sign in"],
              text="Use the reset page."),
]


def ids(hits):
    return [h.flow_id for h in hits]


@pytest.fixture
def library(any_app):
    """The portal on either database, with LIBRARY indexed."""
    with any_app.app_context():
        assert sync_index(LIBRARY) is True
        yield any_app


# --- query normalisation (no database) ---------------------------------------------------------


@pytest.mark.parametrize("query, terms", [
    ("My printer won't print!", ["printer", "print"]),
    ("Outlook: doesn't OPEN", ["outlook", "open"]),
    ("wi-fi / e-mail", ["wifi", "email"]),
    ("Café crème", ["cafe", "creme"]),
    ("the printer’s queue", ["printer", "queue"]),
    ('NEAR("x" AND y*) -:', ["near"]),
    ("printer printer PRINTER", ["printer"]),
    ("the it is not", []),
    ("a b c ? !", []),
    ("", []),
])
def test_normalize_query(query, terms):
    assert normalize_query(query) == terms


def test_normalize_query_caps_the_number_of_words():
    words = [f"word{i}" for i in range(30)]
    assert normalize_query(" ".join(words)) == words[:services.MAX_TERMS]


def test_the_index_is_not_in_the_models_metadata():
    assert not [name for name in db.metadata.tables if name.startswith("flow_search")]


def test_the_schema_can_be_created_again_and_dropped(any_app):
    with any_app.app_context():
        with db.engine.begin() as conn:
            create_search_schema(conn)  # already there: nothing happens
            drop_search_schema(conn)
            assert not [t for t in sa.inspect(conn).get_table_names() if t.startswith("flow_search")]
            create_search_schema(conn)
        assert sync_index(LIBRARY) is True
        assert ids(find("toner")) == ["printer"]


# --- finding ----------------------------------------------------------------------------------


def test_title(library):
    hits = find("outlook")
    assert ids(hits)[0] == "outlook"
    assert hits[0].matched == "fulltext"


def test_keyword(library):
    assert ids(find("toner")) == ["printer"]


def test_step_text_and_option_labels(library):
    assert ids(find("anyconnect")) == ["vpn"]
    assert ids(find("certificate")) == ["vpn"]


def test_word_forms(library):
    assert ids(find("printing"))[0] == "printer"
    assert ids(find("freezing"))[0] == "outlook"


def test_a_prefix_finds_the_word(library):
    assert ids(find("outl")) == ["outlook"]


def test_a_typo(library):
    hits = find("outlok")
    assert ids(hits)[0] == "outlook"
    assert ids(find("my outlok won't open"))[0] == "outlook"


def test_words_in_any_order(library):
    one, other = find("internet wifi"), find("wifi internet")
    assert ids(one)[0] == ids(other)[0] == "wifi"
    assert ids(one) == ids(other)


def test_flows_matching_more_words_come_first(library):
    hits = find("internet connected wifi")
    assert ids(hits)[0] == "wifi"  # all three words; "slow-internet" and "vpn" ("connect") one each
    assert sorted(ids(hits)[1:]) == ["slow-internet", "vpn"]
    assert [int(h.score) for h in hits] == [3, 1, 1]


def test_title_outranks_step_text(library):
    assert ids(find("password"))[:2] == ["password", "vpn"]


def test_hyphenated_words(library):
    assert ids(find("wifi"))[0] == "wifi"
    assert ids(find("wi-fi"))[0] == "wifi"


def test_limit(library):
    assert len(find("internet", limit=1)) == 1
    assert find("internet", limit=0) == []


SYNTAX = [
    '"', '"printer', "printer*", "*", "AND", "printer AND", "OR printer", "NOT printer", "NEAR(", "NEAR(printer",
    "-printer", "printer -", ":", "title:printer", "^printer", "printer)", "(", "{title}: x", "'", "\\",
    "printer & | ! :*", "'printer':* & !", "<->", "printer <-> toner", "💥 printer", "\x00", "printer\x00",
]


def test_syntax_characters_are_just_text(library):
    for query in SYNTAX:  # one database session for all: a failed statement would poison the rest
        hits = find(query)
        assert isinstance(hits, list), query
        if "printer" in query:
            assert ids(hits)[0] == "printer", query


@pytest.mark.parametrize("query", ["", "   ", "the it is", "?!", "won't doesn't can't", "a"])
def test_nothing_to_search_for(library, query):
    assert find(query) == []


def test_nothing_found(library):
    assert find("zzzzqqq") == []


def test_a_near_spelling_is_a_fuzzy_hit(library):
    hits = find("uotlokk")  # too far for a confident correction
    assert ids(hits) == ["outlook"]
    assert hits[0].matched == "fuzzy"


def test_an_empty_index_finds_nothing(any_app):
    with any_app.app_context():
        assert find("printer") == []


# --- syncing ----------------------------------------------------------------------------------


def test_sync_without_changes_does_nothing(library):
    assert sync_index(LIBRARY) is False
    services._snapshots.clear()  # a restarted worker
    assert sync_index(LIBRARY) is False
    assert ids(find("toner")) == ["printer"]


def test_a_changed_title_replaces_the_old_one(library):
    changed = [f for f in LIBRARY if f.id != "printer"]
    changed.append(make_flow("printer", "Scanner jams", text="Check the cable at the back."))
    assert sync_index(changed) is True
    assert ids(find("scanner")) == ["printer"]
    assert "printer" not in ids(find("offline"))
    assert find("toner") == []


def test_a_removed_flow_is_not_found(library):
    assert sync_index([f for f in LIBRARY if f.id != "vpn"]) is True
    assert "vpn" not in ids(find("anyconnect"))  # a fuzzy guess ("connected") may remain
    assert not [h for h in find("anyconnect") if h.matched == "fulltext"]
    assert "vpn" not in ids(find("connect"))
    assert ids(find("outlook")) == ["outlook"]


def test_an_empty_set_empties_the_index(library):
    assert sync_index([]) is True
    assert find("outlook") == []


def test_another_workers_sync_is_seen(library):
    stale = dict(services._snapshots)
    assert sync_index([*LIBRARY, make_flow("teams", "No sound in Teams calls")]) is True
    services._snapshots.clear()
    services._snapshots.update(stale)  # this worker still holds the vocabulary from before
    assert ids(find("teams")) == ["teams"]
    assert ids(find("teamz")) == ["teams"]  # the vocabulary was reloaded: the typo is corrected


def test_two_workers_syncing_at_once(any_app):
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            with any_app.app_context():
                barrier.wait()
                results.append(sync_index(LIBRARY))
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [False, True]
    with any_app.app_context():
        assert ids(find("toner")) == ["printer"]
        assert sorted(services._backend().current()) == sorted(f.id for f in LIBRARY)


# --- misses -----------------------------------------------------------------------------------


def test_record_miss(any_app):
    with any_app.app_context():
        user = User(email="miss@example.com", role=Role.REQUESTER)
        db.session.add(user)
        db.session.commit()
        record_miss("  printer   on\tfire ", user.id)
        record_miss("x" * 500)
        record_miss("toner\x00 empty\u200b")
        assert record_miss("   ") is None
        assert record_miss("\x00") is None
        misses = db.session.scalars(sa.select(SearchMiss).order_by(SearchMiss.id)).all()
        assert [(m.query, m.user_id) for m in misses] == [
            ("printer on fire", user.id), ("x" * 200, None), ("toner empty", None)]
        assert misses[0].created_at.tzinfo is not None
