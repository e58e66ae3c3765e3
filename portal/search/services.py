"""Finding a flow in the user's own words, and remembering the searches that found nothing.

The database does the searching. On SQLite the flows live in an FTS5 table (``flow_search``,
porter stemming, diacritics folded, BM25 ranking with title > keywords > summary > body); on
PostgreSQL in a plain table of the same name whose generated ``document`` column is a weighted
``tsvector`` ('english'; title A, keywords B, summary C, body D) under a GIN index, ranked with
``ts_rank``. Both index the same text per flow: title; keywords and category; summary; and the
steps' titles, texts and option labels.

Bookkeeping: every indexed flow's content hash (``flow_search_meta`` on SQLite, columns of
``flow_search`` on PostgreSQL), so :func:`sync_index` rewrites only what changed, and a one-row
``flow_search_state`` whose random token changes with every change. None of these tables is in
``db.metadata``: :func:`create_search_schema` creates them, for the connection's dialect.

A query is normalised to its words (stop words out), each word becomes a quoted prefix term, the
terms are OR-ed, and rows are ordered by how many of the words they match, then by relevance. A
word the index has never seen (4+ letters) is corrected against the indexed vocabulary with
rapidfuzz and searched together with its correction ("outlok" also searches "outlook"). When that
finds nothing, every word is widened to its nearest indexed words, less strictly, and the search
runs again: those hits are marked "fuzzy". The vocabulary lives in each process's memory, keyed by
the state token: one primary key look-up per search tells whether another process changed the
index since.

Public knowledge-base articles live in the same index, keyed ``article:<slug>`` (flow ids are
slugs, so never collide), so a search ranks flows and articles together with the same weights
(title; tags; first paragraph; body). :func:`sync_index` manages only the flows' rows; the
knowledge base writes its own with :func:`index_article` and :func:`unindex_article`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
import unicodedata
import uuid
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from rapidfuzz import fuzz, process

from ..extensions import db
from ..flows.model import Flow
from ..models import SearchMiss

#: Part of every content hash: bump it when :func:`flow_document` changes, so that the next
#: :func:`sync_index` rewrites every flow.
INDEX_FORMAT = "1"
MAX_QUERY_CHARS = 200
MAX_TERMS = 10  # a pasted error message must not become a 60-term query
PREFIX_MIN = 3  # "pr"* would match half the index; "pri"* is a fair guess at "printer"
CORRECT_MIN = 4  # shorter words have too many neighbours one typo away
CORRECT_CUTOFF = 75  # fuzz.ratio: "outlok"/"outlook" 92, "pirnter"/"printer" 86, "emial"/"email" 80
NEAR_CUTOFF = 66  # the fallback when nothing matched: "vpm"/"vpn" 66.7, "uotlokk"/"outlook" 71
NEAR_LIMIT = 2  # neighbours tried per word in the fallback

# PostgreSQL's 'english' stop words (so both databases ignore the same words), the contractions
# people type with or without the apostrophe, and words every troubleshooting flow shares. "no",
# "not" and "won't" carry no signal here: every flow is about something that does not work, and
# "Yes"/"No" are the labels of half the options in the index.
_STOP_WORDS_TEXT = """
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing don down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just me more
most my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves s t
can't cannot cant couldn't couldnt didn't didnt doesn't doesnt don't dont hasn't hasnt haven't
havent isn't isnt it's i'm im i've ive i'd i'll wasn't wasnt weren't won't wont wouldn't wouldnt
shouldn't shouldnt aren't arent that's there's what's
also get gets got getting keep keeps still anymore anything something nothing
help please problem problems issue issues trouble working works worked broken
yes ok okay hi hello thanks
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_QUERY_TOKEN = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
_WORD = re.compile(r"[^\W_]+")
_HYPHENATED = re.compile(r"[^\W_]+(?:-[^\W_]+)+")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)

# SQLite: bm25() takes one weight per column, flow_id (unindexed) first.
_BM25_WEIGHTS = "0.0, 10.0, 6.0, 3.0, 1.0"
# PostgreSQL: ts_rank's weights are listed D, C, B, A: body, summary, keywords, title.
_RANK_WEIGHTS = "{0.1, 0.3, 0.6, 1.0}"


#: The key of an article's row in the index: this prefix and its slug.
ARTICLE_PREFIX = "article:"


def _is_article(key: str) -> bool:
    return key.startswith(ARTICLE_PREFIX)


@dataclass(frozen=True, slots=True)
class Hit:
    """One flow or article found. `matched` is "fulltext", or "fuzzy" when only near spellings of
    the query's words matched (a guess: show it as "did you mean"). `score` is the number of query
    words it matched plus a relevance in [0, 1); higher is better. An article's `flow_id` is its
    index key; `article` is its slug (None for a flow).
    """

    flow_id: str
    score: float
    matched: str

    @property
    def article(self) -> str | None:
        return self.flow_id[len(ARTICLE_PREFIX):] if _is_article(self.flow_id) else None


@dataclass(frozen=True, slots=True)
class Document:
    """What the index holds for one flow, the hash that tells whether it changed, and its words."""

    flow_id: str
    title: str
    keywords: str
    summary: str
    body: str
    hash: str
    words: frozenset  # every indexed word, folded: the vocabulary typos are corrected against

    @classmethod
    def of(cls, flow_id: str, title: str, keywords: str, summary: str, body: str) -> Document:
        digest = hashlib.sha256("\x1f".join((INDEX_FORMAT, flow_id, title, keywords, summary, body)).encode())
        words = set(_WORD.findall(fold(f"{title} {keywords} {summary} {body}"))) - STOP_WORDS
        words = frozenset(w for w in words if len(w) > 1)
        return cls(flow_id, title, keywords, summary, body, digest.hexdigest(), words)

    def params(self) -> dict:
        return {"flow_id": self.flow_id, "hash": self.hash, "title": self.title, "keywords": self.keywords,
                "summary": self.summary, "body": self.body}


# --- text -------------------------------------------------------------------------------------


def strip_diacritics(text: str) -> str:
    """ "Café" -> "Cafe", as SQLite's remove_diacritics does (PostgreSQL's 'english' does not)."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Lower-case `text`, strip its diacritics and straighten its apostrophes."""
    return strip_diacritics(text.translate(_APOSTROPHES)).casefold()


def normalize_query(query: str) -> list:
    """The words of a query worth searching for, in order, without duplicates or stop words.

    Punctuation separates words, except inside a word: "won't" is one (stop) word, "wi-fi" and
    "e-mail" are searched as "wifi" and "email", "printer's" as "printer". One-letter words go.
    """
    terms: list = []
    for token in _QUERY_TOKEN.findall(fold((query or "")[:MAX_QUERY_CHARS])):
        if token in STOP_WORDS:
            continue
        for part in token.split("'"):
            word = part.replace("-", "")
            if len(word) > 1 and word not in STOP_WORDS and word not in terms:
                terms.append(word)
    return terms[:MAX_TERMS]


def _index_text(*parts) -> str:
    """One column's text: URLs out, diacritics folded, and "Wi-Fi" also indexed as "wifi"."""
    text = " ".join(p for p in parts if p)
    if "://" in text or "www." in text:
        text = _URL.sub(" ", text)
    text = strip_diacritics(text)
    hyphenated = " ".join(t for t in text.split() if "-" in t)  # the regex alone is slow on long text
    compounds = sorted({m.replace("-", "").lower() for m in _HYPHENATED.findall(hyphenated)})
    return f"{text}\n{' '.join(compounds)}" if compounds else text


_documents: dict = {}


def flow_document(flow: Flow) -> Document:
    """The indexed text of a flow: title; keywords and category; summary; the steps' shown text."""
    key = (flow.id, flow.hash)
    if flow.hash and key in _documents:
        return _documents[key]
    body = []
    for step in flow.steps.values():
        body.extend((step.title, step.text))
        body.extend(option.label for option in step.options)
    doc = Document.of(flow.id, _index_text(flow.title), _index_text(*flow.keywords, flow.category),
                      _index_text(flow.summary), _index_text(*body))
    if flow.hash:
        if len(_documents) > 8192:  # flows edited over a long uptime; rebuilding one is cheap
            _documents.clear()
        _documents[key] = doc
    return doc


# --- the per-process vocabulary ---------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    """What this process knows about one database's index, valid while its token is current."""

    token: str | None
    signature: dict  # flow_id -> content hash
    vocab: tuple  # sorted
    known: frozenset
    versions: frozenset | None = None  # (flow id, file hash) of the flows synced, if known

    @classmethod
    def build(cls, token: str | None, documents: Iterable, versions: frozenset | None = None) -> _Snapshot:
        documents = list(documents)
        words = frozenset().union(*(d.words for d in documents))
        # The signature is the flows' alone: sync_index compares it with the flow files.
        signature = {d.flow_id: d.hash for d in documents if not _is_article(d.flow_id)}
        return cls(token, signature, tuple(sorted(words)), words, versions)

    def knows(self, word: str) -> bool:
        """True if `word` is an indexed word or the start of one."""
        if word in self.known:
            return True
        i = bisect_left(self.vocab, word)
        return i < len(self.vocab) and self.vocab[i].startswith(word)

    def correct(self, word: str, backend: _Backend) -> str | None:
        """The indexed word closest to an unknown `word`, if one is close enough.

        A word the full-text index matches through its stem ("printing" finds "print") is not
        unknown, however absent from the vocabulary: correcting it would add a neighbour such as
        "pointing".
        """
        if len(word) < CORRECT_MIN or self.knows(word) or backend.matches([word]):
            return None
        match = process.extractOne(word, self.vocab, scorer=fuzz.ratio, score_cutoff=CORRECT_CUTOFF)
        return match[0] if match else None

    def neighbours(self, word: str) -> list:
        """The indexed words nearest to `word`, less strictly than :meth:`correct`."""
        if len(word) < PREFIX_MIN:
            return []
        found = process.extract(word, self.vocab, scorer=fuzz.ratio, score_cutoff=NEAR_CUTOFF, limit=NEAR_LIMIT)
        return [w for w, _score, _i in found if w != word]


_snapshots: dict = {}
_snapshots_lock = threading.Lock()


def _cache_key() -> str:
    return str(db.session.get_bind().url)  # the password is masked; the key only tells databases apart


def _remember(snapshot: _Snapshot) -> None:
    key = _cache_key()
    with _snapshots_lock:
        _snapshots.pop(key, None)
        if len(_snapshots) >= 16:  # tests create many databases; a real process has one
            _snapshots.pop(next(iter(_snapshots)))
        _snapshots[key] = snapshot


def _current_snapshot(backend: _Backend) -> _Snapshot:
    token = db.session.execute(sa.text(_READ_TOKEN)).scalar()
    snapshot = _snapshots.get(_cache_key())
    if snapshot is None or snapshot.token != token:
        snapshot = _Snapshot.build(token, backend.documents())
        _remember(snapshot)
    return snapshot


# --- the index, per database --------------------------------------------------------------------

_STATE_DDL = "CREATE TABLE IF NOT EXISTS flow_search_state (id INTEGER PRIMARY KEY, token VARCHAR(32) NOT NULL)"
_READ_TOKEN = "SELECT token FROM flow_search_state WHERE id = 1"
# The first write of a sync: it waits for any other sync (row lock; SQLite's write lock), and
# reads the token without changing it.
_LOCK_STATE = ("INSERT INTO flow_search_state (id, token) VALUES (1, '') "
               "ON CONFLICT (id) DO UPDATE SET token = flow_search_state.token RETURNING token")
_SET_TOKEN = "UPDATE flow_search_state SET token = :token WHERE id = 1"
_SELECT_DOCUMENTS = "SELECT flow_id, title, keywords, summary, body FROM flow_search"


class _Backend:
    """The SQL that differs between databases."""

    ddl: tuple = ()
    tables: tuple = ()

    def create(self, conn) -> None:
        for statement in (*self.ddl, _STATE_DDL):
            conn.execute(sa.text(statement))

    def drop(self, conn) -> None:
        for table in (*self.tables, "flow_search_state"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))

    def reset(self, conn) -> None:
        for table in (*self.tables, "flow_search_state"):
            conn.execute(sa.text(f"DELETE FROM {table}"))

    def documents(self) -> list:
        return [Document.of(*row) for row in db.session.execute(sa.text(_SELECT_DOCUMENTS))]

    def article_documents(self) -> list:
        sql = _SELECT_DOCUMENTS + " WHERE flow_id LIKE 'article:%'"
        return [Document.of(*row) for row in db.session.execute(sa.text(sql))]

    def flow_hashes(self) -> dict:
        """flow_id -> content hash of every indexed flow (articles left out)."""
        return {key: digest for key, digest in self.current().items() if not _is_article(key)}

    def current(self) -> dict:
        """flow_id -> content hash of every indexed flow."""
        raise NotImplementedError

    def remove(self, flow_ids: list) -> None:
        raise NotImplementedError

    def add(self, documents: list) -> None:
        raise NotImplementedError

    def matches(self, alternatives: list) -> bool:
        """True if any flow matches one of `alternatives`."""
        raise NotImplementedError

    def search(self, groups: list, limit: int) -> list:
        """(flow_id, relevance >= 0, words matched), best first."""
        raise NotImplementedError


class _SQLite(_Backend):
    # FTS5 rowid = flow_search_meta.id; the meta table gives flow ids a unique constraint and
    # reads the hashes without touching the documents.
    ddl = (
        "CREATE TABLE IF NOT EXISTS flow_search_meta ("
        " id INTEGER PRIMARY KEY, flow_id TEXT NOT NULL UNIQUE, hash VARCHAR(64) NOT NULL)",
        "CREATE VIRTUAL TABLE IF NOT EXISTS flow_search USING fts5("
        " flow_id UNINDEXED, title, keywords, summary, body,"
        " tokenize = 'porter unicode61 remove_diacritics 2')",
    )
    tables = ("flow_search", "flow_search_meta")

    def current(self) -> dict:
        return dict(db.session.execute(sa.text("SELECT flow_id, hash FROM flow_search_meta")).all())

    def remove(self, flow_ids: list) -> None:
        params = [{"flow_id": f} for f in flow_ids]
        db.session.execute(sa.text(
            "DELETE FROM flow_search WHERE rowid = (SELECT id FROM flow_search_meta WHERE flow_id = :flow_id)"), params)
        db.session.execute(sa.text("DELETE FROM flow_search_meta WHERE flow_id = :flow_id"), params)

    def add(self, documents: list) -> None:
        params = [d.params() for d in documents]
        db.session.execute(sa.text("INSERT INTO flow_search_meta (flow_id, hash) VALUES (:flow_id, :hash)"), params)
        db.session.execute(sa.text(
            "INSERT INTO flow_search (rowid, flow_id, title, keywords, summary, body) VALUES "
            "((SELECT id FROM flow_search_meta WHERE flow_id = :flow_id), :flow_id, :title, :keywords, :summary, :body)"
        ), params)

    @staticmethod
    def _match(alternatives: list) -> str:
        # Every word is quoted, so nothing the user types is FTS5 syntax; a quoted term followed
        # by * is a prefix query, and the porter tokenizer stems it first ("printing"* -> print*).
        terms = [f'"{w}"*' if len(w) >= PREFIX_MIN else f'"{w}"' for w in alternatives]
        return terms[0] if len(terms) == 1 else f"({' OR '.join(terms)})"

    def matches(self, alternatives: list) -> bool:
        sql = "SELECT 1 FROM flow_search WHERE flow_search MATCH :q LIMIT 1"
        return db.session.execute(sa.text(sql), {"q": self._match(alternatives)}).first() is not None

    def search(self, groups: list, limit: int) -> list:
        params = {f"g{i}": self._match(g) for i, g in enumerate(groups)}
        params.update(q=" OR ".join(params.values()), limit=limit)
        coverage = " + ".join(f"(rowid IN (SELECT rowid FROM flow_search WHERE flow_search MATCH :g{i}))"
                              for i in range(len(groups))) if len(groups) > 1 else "1"
        sql = (f"SELECT flow_id, -bm25(flow_search, {_BM25_WEIGHTS}) AS relevance, {coverage} AS coverage "
               "FROM flow_search WHERE flow_search MATCH :q "
               "ORDER BY coverage DESC, relevance DESC, flow_id LIMIT :limit")
        return db.session.execute(sa.text(sql), params).all()


class _PostgreSQL(_Backend):
    ddl = (
        "CREATE TABLE IF NOT EXISTS flow_search ("
        " flow_id TEXT PRIMARY KEY, hash VARCHAR(64) NOT NULL,"
        " title TEXT NOT NULL, keywords TEXT NOT NULL, summary TEXT NOT NULL, body TEXT NOT NULL,"
        " document tsvector GENERATED ALWAYS AS ("
        "  setweight(to_tsvector('english'::regconfig, title), 'A') ||"
        "  setweight(to_tsvector('english'::regconfig, keywords), 'B') ||"
        "  setweight(to_tsvector('english'::regconfig, summary), 'C') ||"
        "  setweight(to_tsvector('english'::regconfig, body), 'D')) STORED)"
        # Rows under 8 kB stay in the table, uncompressed: a search reads `document` up to once
        # per query word, and fetching it from TOAST each time tripled the time of a query.
        " WITH (toast_tuple_target = 8160)",
        # Flows change rarely and are searched often: no pending list for every search to scan.
        "CREATE INDEX IF NOT EXISTS ix_flow_search_document ON flow_search USING gin (document)"
        " WITH (fastupdate = off)",
    )
    tables = ("flow_search",)

    def reset(self, conn) -> None:
        conn.execute(sa.text("TRUNCATE flow_search, flow_search_state"))

    def current(self) -> dict:
        return dict(db.session.execute(sa.text("SELECT flow_id, hash FROM flow_search")).all())

    def remove(self, flow_ids: list) -> None:
        db.session.execute(sa.text("DELETE FROM flow_search WHERE flow_id = :flow_id"),
                           [{"flow_id": f} for f in flow_ids])

    def add(self, documents: list) -> None:
        db.session.execute(sa.text(
            "INSERT INTO flow_search (flow_id, hash, title, keywords, summary, body) "
            "VALUES (:flow_id, :hash, :title, :keywords, :summary, :body)"), [d.params() for d in documents])

    @staticmethod
    def _tsquery(alternatives: list) -> str:
        # Words are letters and digits only (normalize_query), so none is tsquery syntax; :* makes
        # the stemmed word a prefix ("printing:*" -> 'print':*, which matches 'printer').
        return "(" + " | ".join(f"{w}:*" if len(w) >= PREFIX_MIN else w for w in alternatives) + ")"

    def matches(self, alternatives: list) -> bool:
        sql = "SELECT 1 FROM flow_search, to_tsquery('english', :q) AS query WHERE document @@ query LIMIT 1"
        return db.session.execute(sa.text(sql), {"q": self._tsquery(alternatives)}).first() is not None

    def search(self, groups: list, limit: int) -> list:
        params = {f"g{i}": self._tsquery(g) for i, g in enumerate(groups)}
        params.update(q=" | ".join(params.values()), limit=limit)
        # Each tsquery is a one-row FROM item, so it is parsed once per search, not once per row
        # (psycopg prepares a statement used often, and a generic plan does not fold constants).
        queries = "".join(f", to_tsquery('english', :g{i}) AS g{i}" for i in range(len(groups)))
        coverage = " + ".join(f"(document @@ g{i})::int" for i in range(len(groups))) if len(groups) > 1 else "1"
        # ts_rank, not ts_rank_cd: half the time when most flows match, and the order by words
        # matched already does what cover density would add. Normalisation 1 tempers long flows.
        sql = (f"SELECT flow_id, ts_rank('{_RANK_WEIGHTS}', document, query, 1) AS relevance, "
               f"{coverage} AS coverage "
               f"FROM flow_search, to_tsquery('english', :q) AS query{queries if len(groups) > 1 else ''} "
               "WHERE document @@ query ORDER BY coverage DESC, relevance DESC, flow_id LIMIT :limit")
        return db.session.execute(sa.text(sql), params).all()


_BACKENDS = {"sqlite": _SQLite(), "postgresql": _PostgreSQL()}


def _backend_for(dialect_name: str) -> _Backend:
    try:
        return _BACKENDS[dialect_name]
    except KeyError:
        raise NotImplementedError(f"flow search supports SQLite and PostgreSQL, not {dialect_name}") from None


def _backend() -> _Backend:
    return _backend_for(db.session.get_bind().dialect.name)


# --- public API -------------------------------------------------------------------------------


def create_search_schema(conn) -> None:
    """Create the search tables if missing, for the connection's database (migrations, tests)."""
    _backend_for(conn.dialect.name).create(conn)


def drop_search_schema(conn) -> None:
    """Drop the search tables (a migration's downgrade)."""
    _backend_for(conn.dialect.name).drop(conn)


def reset_index(conn) -> None:
    """Empty the index (tests; a full rebuild): the next sync_index writes every flow."""
    _backend_for(conn.dialect.name).reset(conn)


def sync_index(flows: Iterable[Flow]) -> bool:
    """Make the index hold exactly `flows`, in one transaction; True if anything changed.

    Cheap when nothing changed: one look-up of the state token once this process has synced,
    a read of the stored hashes before. Only a change takes the lock: two processes syncing at
    once take turns on the state row, and the second finds the work done.
    """
    flows = list(flows)
    # The same files as last time, by their sha256: nothing to rebuild, whatever INDEX_FORMAT says.
    versions = frozenset((f.id, f.hash) for f in flows) if all(f.hash for f in flows) else None
    token = db.session.execute(sa.text(_READ_TOKEN)).scalar()
    snapshot = _snapshots.get(_cache_key())
    if token and versions and snapshot is not None and snapshot.token == token and snapshot.versions == versions:
        # Nothing written: no commit, which would hand the connection back to the pool only for the
        # search that follows to take it again.
        return False
    documents = {flow.id: flow_document(flow) for flow in flows}
    wanted = {fid: doc.hash for fid, doc in documents.items()}
    backend = _backend()
    in_step = snapshot is not None and snapshot.token == token and snapshot.signature == wanted
    if token and not in_step and backend.flow_hashes() == wanted:  # another process did the work
        in_step = True
    if token and in_step:
        if snapshot is not None and snapshot.token == token:  # the same index: its words are known
            _remember(dataclasses.replace(snapshot, versions=versions))
        else:  # another process synced, or an article changed: read every row's words
            _remember(_Snapshot.build(token, backend.documents(), versions))
        db.session.commit()
        return False
    for attempt in range(2):
        try:
            return _sync_locked(backend, documents, versions)
        except sa.exc.IntegrityError:  # pragma: no cover - a race the state row lock should prevent
            db.session.rollback()
            if attempt:
                raise
    return False  # pragma: no cover


def _sync_locked(backend: _Backend, documents: dict, versions: frozenset | None) -> bool:
    db.session.commit()  # start afresh: SQLite must not hold a read snapshot when it asks to write
    token = db.session.execute(sa.text(_LOCK_STATE)).scalar_one()
    current = backend.flow_hashes()
    wanted = {fid: doc.hash for fid, doc in documents.items()}
    stale = [fid for fid, digest in current.items() if wanted.get(fid) != digest]  # changed or gone
    new = [doc for fid, doc in documents.items() if current.get(fid) != doc.hash]
    if stale:
        backend.remove(stale)
    if new:
        backend.add(new)
    if stale or new or not token:
        token = uuid.uuid4().hex
        db.session.execute(sa.text(_SET_TOKEN), {"token": token})
    db.session.commit()
    _remember(_Snapshot.build(token, [*documents.values(), *backend.article_documents()], versions))
    return bool(stale or new)


def find(query: str, limit: int = 10) -> list:
    """The flows that best match `query`, best first (a list of :class:`Hit`).

    Full text first, with confident corrections of unknown words; when that finds nothing, each
    word is widened to its nearest indexed words and the search runs again ("fuzzy" hits).
    """
    terms = normalize_query(query)
    if not terms or limit <= 0:
        return []
    backend = _backend()
    snapshot = _current_snapshot(backend)
    if not snapshot.vocab:
        return []
    groups = []
    for term in terms:
        correction = snapshot.correct(term, backend)
        groups.append([term, correction] if correction else [term])
    hits = [Hit(flow_id, coverage + relevance / (1.0 + relevance), "fulltext")
            for flow_id, relevance, coverage in backend.search(groups, limit)]
    if hits:
        return hits
    widened = [[term, *snapshot.neighbours(term)] for term in terms]
    if all(len(group) == 1 for group in widened):
        return []
    return [Hit(flow_id, coverage + relevance / (1.0 + relevance), "fuzzy")
            for flow_id, relevance, coverage in backend.search(widened, limit)]


def article_document(slug: str, title: str, tags: Iterable, body: str) -> Document:
    """The indexed text of a public article: title; tags; its first paragraph; the whole body."""
    summary = (body or "").strip().split("\n\n", 1)[0]
    return Document.of(ARTICLE_PREFIX + slug, _index_text(title), _index_text(*tags), _index_text(summary),
                       _index_text(body))


def _new_token() -> None:
    db.session.execute(sa.text(_LOCK_STATE))
    db.session.execute(sa.text(_SET_TOKEN), {"token": uuid.uuid4().hex})


def index_article(slug: str, title: str, tags: Iterable, body: str) -> None:
    """Put a public article in the index (or replace it), in the caller's transaction."""
    backend = _backend()
    key = ARTICLE_PREFIX + slug
    backend.remove([key])
    backend.add([article_document(slug, title, list(tags), body)])
    _new_token()


def unindex_article(slug: str) -> None:
    """Take an article out of the index (made internal, renamed or deleted), in the caller's transaction."""
    _backend().remove([ARTICLE_PREFIX + slug])
    _new_token()


def record_miss(query: str, user_id: int | None = None) -> SearchMiss | None:
    """Store a search that found nothing, for flow authors; empty queries are ignored."""
    # Control characters out (PostgreSQL refuses NUL in text), runs of whitespace made one space.
    query = "".join(c for c in (query or "") if c.isprintable() or c.isspace())
    query = " ".join(query.split())[:200]
    if not query:
        return None
    miss = SearchMiss(query=query, user_id=user_id)
    db.session.add(miss)
    db.session.commit()
    return miss
