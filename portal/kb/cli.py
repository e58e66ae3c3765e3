"""``flask kb export DIR`` and ``flask kb import DIR``: articles as Markdown files with front matter.

A file is ``<slug>.md``::

    ---
    title: Outlook crashes on start after the update
    slug: outlook-crashes-on-start
    tags: [outlook, office]
    visibility: public
    owner: tech@example.com
    updated: 2026-11-29T10:00:00+00:00
    ---
    The Markdown body.

Importing creates or updates each article by slug (a new revision only when something changed),
so running it twice changes nothing the second time. A file with bad front matter is named with
its line; nothing is written when any file is bad.
"""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
import yaml
from flask.cli import AppGroup

from ..extensions import db
from ..flows.loader import YamlProblem, parse
from ..models import User, Visibility
from . import queries, services

kb_cli = AppGroup("kb", help="Export and import knowledge-base articles as Markdown files.")

FRONT_KEYS = ("title", "slug", "tags", "visibility", "owner", "updated")
MAX_FILE_BYTES = 1_000_000


class FileProblem(Exception):
    """A file that cannot be imported, with the line at fault."""

    def __init__(self, path: Path, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")


def to_markdown(article) -> str:
    """The file an article is exported as."""
    front = {"title": article.title, "slug": article.slug, "tags": article.tags,
             "visibility": article.visibility.value, "owner": article.owner.email if article.owner else None,
             "updated": article.updated_at.isoformat(timespec="seconds")}
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000)
    return f"---\n{header}---\n{article.body.rstrip()}\n"


def read_file(path: Path) -> tuple:
    """(front matter dict, body, the line of each front key) of a Markdown file, or FileProblem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileProblem(path, 1, f"cannot read the file: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise FileProblem(path, 1, f"the file is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileProblem(path, 1, "the file is not UTF-8 text") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        raise FileProblem(path, 1, "the file must start with front matter: a line '---', the keys, and '---'")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise FileProblem(path, 1, "the front matter is not closed: add a line '---' after its keys") from None
    front_text = "\n".join(lines[1:end])
    try:
        doc = parse(front_text)
    except YamlProblem as exc:
        raise FileProblem(path, exc.pos.line + 1, f"front matter: {exc.message}") from None
    if doc.duplicates:
        dup = doc.duplicates[0]
        raise FileProblem(path, dup.pos.line + 1, f"front matter: {dup.message}")
    data = doc.data
    if not isinstance(data, dict):
        raise FileProblem(path, 2, "the front matter must be keys and values (title: ..., slug: ...)")

    def line_of(key: str) -> int:
        return doc.positions.key((key,)).line + 1  # the file's line: the front matter starts on line 2

    for key in data:
        if key not in FRONT_KEYS:
            raise FileProblem(path, line_of(key), f"unknown key {key!r} (known: {', '.join(FRONT_KEYS)})")
    for key in ("title", "slug"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise FileProblem(path, line_of(key) if key in data else 2, f"{key!r} is required and must be text")
    tags = data.get("tags") or []
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, list) or not all(isinstance(t, str | int | float) for t in tags):
        raise FileProblem(path, line_of("tags"), "'tags' must be a list of words, e.g. [vpn, outlook]")
    visibility = data.get("visibility", "internal")
    if visibility not in {v.value for v in Visibility}:
        raise FileProblem(path, line_of("visibility"), "'visibility' must be public or internal")
    owner = data.get("owner")
    if owner is not None and not isinstance(owner, str):
        raise FileProblem(path, line_of("owner"), "'owner' must be an email address")
    body = "\n".join(lines[end + 1:]).strip("\n")
    front = {"title": data["title"], "slug": data["slug"].strip(), "tags": [str(t) for t in tags],
             "visibility": visibility, "owner": owner}
    return front, body, end + 1


@kb_cli.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export_command(directory: Path) -> None:
    """Write every article to DIRECTORY/<slug>.md with its front matter."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for article in queries.export_articles():
        (directory / f"{article.slug}.md").write_text(to_markdown(article), encoding="utf-8")
        count += 1
    click.echo(f"Exported {count} article{'' if count == 1 else 's'} to {directory}")


@kb_cli.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def import_command(directory: Path) -> None:
    """Create or update an article from each DIRECTORY/*.md (by slug); a revision only when it changed."""
    files = sorted(directory.glob("*.md"))
    problems, parsed = [], []
    for path in files:
        try:
            parsed.append((path, *read_file(path)))
        except FileProblem as exc:
            problems.append(str(exc))
    owners = {}
    for path, front, _body, _end in parsed:
        email = (front["owner"] or "").strip().lower()
        if email and email not in owners:
            owners[email] = db.session.scalar(sa.select(User).where(User.email == email))
            if owners[email] is None or not owners[email].is_staff:
                problems.append(f"{path}:1: owner {email!r} is not a technician's or an admin's account")
    created = updated = unchanged = 0
    if not problems:
        for path, front, body, _end in parsed:
            owner = owners.get((front["owner"] or "").strip().lower())
            draft = services.Draft(title=front["title"], body=body, slug=front["slug"], tags=front["tags"],
                                   visibility=Visibility(front["visibility"]),
                                   owner_id=owner.id if owner is not None else None)
            article = queries.article_by_slug(front["slug"].strip().lower())
            try:
                if article is None:
                    services.create_article(draft, author_id=None)
                    created += 1
                elif services.update_article(article, draft, author_id=None, note=f"Imported from {path.name}"):
                    updated += 1
                else:
                    unchanged += 1
            except services.ArticleError as exc:
                problems.extend(f"{path}:1: {field}: {message}" for field, message in exc.errors.items())
    if problems:
        db.session.rollback()
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{len(problems)} problem{'' if len(problems) == 1 else 's'}; nothing imported")
    db.session.commit()
    click.echo(f"{created} created, {updated} updated, {unchanged} unchanged")


@kb_cli.command("reindex")
def reindex_command() -> None:
    """Put every public article in the home search's index again."""
    count = services.reindex_all()
    db.session.commit()
    click.echo(f"{count} public article{'' if count == 1 else 's'} indexed")
