"""Full-page screenshots of the portal's main pages, on a phone and a desktop, with JavaScript on and off.

Usage: ``.venv/bin/python scripts/screenshots.py OUTDIR``

Starts the portal on a fresh SQLite database in a temporary folder, with a copy of the shipped flows,
seeds a technician (Tess Tech), a requester (Ann Lee), tickets with long subjects, a right-to-left
reply, a picture attachment, canned responses and an open known issue through the portal's own
services, then drives Debian's Chromium through Playwright and saves ``<state>-<width>-<js|nojs>.png``
for each page state. Each screenshot is checked: no error page (except the contact form's own
"Error:" title), no server error, the element the state is about present, and a picture that is not
blank. Prints one line per file written; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python scripts/screenshots.py`: the portal package is one folder up

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402

from portal import clock, create_app  # noqa: E402
from portal.admin import services as admin_services  # noqa: E402
from portal.auth import services as auth_services  # noqa: E402
from portal.database import create_schema  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Role, TicketSource  # noqa: E402
from portal.tickets import known_issues  # noqa: E402
from portal.tickets import services as tickets  # noqa: E402
from tests.e2e.conftest import LiveServer, sign_in  # noqa: E402  (the browser tests' live server, sign-in)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
WIDTHS = (1280, 390)
HEIGHT = 900
PASSWORD = "correct horse battery staple"
TECH = ("tess@example.com", "Tess Tech")
ANN = ("ann@example.com", "Ann Lee")
WALKER = ("Jordan Price", "jordan@example.com")  # the person who walks a guide signed out
READY = "It's on and says Ready (or shows its home screen)"
SEARCH = "cancel"  # a word deep in the guides' steps, in no title or summary: "These might help"

LONG_WORD = "Antidisestablishmentarianism" + "Supercalifragilistic" + "Pneumonoultra"
MAIN_SUBJECT = ("Outlook keeps asking for my password since this morning's Windows update, and mail to "
                "customers is stuck in the Outbox with an error I have never seen before")
ARABIC_REPLY = ("جربت إعادة تشغيل الحاسوب مرتين كما اقترحتم، لكن النافذة ما زالت تطلب كلمة المرور "
                "كل خمس دقائق. أرفقت صورة للرسالة.")


# -- the portal --------------------------------------------------------------------------------------------


def portal(folder: Path):
    """A portal on its own SQLite file and a copy of the shipped flows, CSRF on, as in production."""
    flows = folder / "flows"
    shutil.copytree(ROOT / "flows", flows)
    app = create_app({
        "SECRET_KEY": "screenshots",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'portal.db'}",
        "FLOWS_DIR": str(flows),
        "FLOWS_RELOAD_SECONDS": 0,
        "ATTACHMENTS_DIR": str(folder / "attachments"),
        "RATELIMIT_ENABLED": False,  # four browsers from one address, many sign-ins and tickets in a minute
        "RATELIMIT_STORAGE_URI": "memory://",
        "WTF_CSRF_ENABLED": True,
    })
    with app.app_context():
        create_schema()
    return app


def png(width: int = 320, height: int = 200) -> bytes:
    """A real PNG (no image library needed): a grey "dialog" with a red title bar, like a screenshot of an error."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = []
    for y in range(height):
        colour = (196, 43, 28) if y < 36 else (240, 240, 240) if 60 < y < 90 else (255, 255, 255)
        rows.append(b"\x00" + bytes(colour) * width)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


@contextmanager
def hours_ago(hours: float) -> Iterator[None]:
    """Everything done inside happens `hours` ago (the portal's one clock), so the queue shows real ages."""
    real = clock.now
    at = real() - timedelta(hours=hours)
    clock.now = lambda: at
    try:
        yield
    finally:
        clock.now = real


@dataclass
class Seeded:
    main: int  # Ann's ticket with the picture and the Arabic reply (open)
    resolved: int  # Ann's resolved ticket (rating)
    duplicate: int  # a duplicate to merge from the desk
    merge_into: int


def seed(app) -> Seeded:
    """Users, tickets, replies, canned responses and a known issue, through the portal's services."""
    key = iter(range(1, 1000))

    def k() -> str:
        return f"seed-{next(key)}"

    with app.app_context():
        tess = auth_services.create_user(TECH[0], PASSWORD, name=TECH[1], role=Role.TECHNICIAN)
        auth_services.create_user("sam@example.com", PASSWORD, name="Sam Okafor", role=Role.TECHNICIAN)
        ann = auth_services.create_user(ANN[0], PASSWORD, name=ANN[1])
        bob = auth_services.create_user("bob@example.com", PASSWORD, name="Bob Marsh")

        admin_services.add_canned(
            "Need more details",
            "Hi {requester_first_name},\n\nThanks for ticket {ticket_number}. Could you send a screenshot of the "
            "message and tell us when it started?\n\n{technician_name}, IT help desk")
        admin_services.add_canned(
            "Password reset done",
            "Hi {requester_first_name},\n\nI've reset your password. Sign in with the temporary one I read out on "
            "the phone and choose a new one when asked.\n\n{technician_name}")
        admin_services.add_canned(
            "Closing: no answer",
            "Hi {requester_first_name},\n\nWe haven't heard back, so we'll close {ticket_number} in 3 days. "
            "Reply here if you still need help.\n\n{technician_name}")

        with hours_ago(50):
            tickets.open_ticket(  # Ann's other ticket, for the desk's "The requester's other tickets" panel
                TicketSource.WEB, requester=ann, request_key=k(), queue="hardware",
                subject="The second monitor in meeting room 3B flickers and goes black every few minutes "
                        "during presentations, usually right when the client is watching",
                description="It started after the room was rearranged. The cable looks fine.")
        with hours_ago(30):
            vpn, _ = tickets.open_ticket(
                TicketSource.WEB, requester=bob, request_key=k(),
                subject="VPN disconnects every twenty minutes when I work from the hotel Wi-Fi in Lisbon",
                description="GlobalProtect says 'Gateway unreachable', then reconnects on its own.")
        with hours_ago(26):
            tickets.open_ticket(
                TicketSource.WEB, requester=None, name="سارة أحمد", email="sara@example.com", request_key=k(),
                subject="Outlook keeps asking for my password after the update and the error says " + LONG_WORD
                        + " which nobody here understands, so no mail reaches our customers")  # 200 characters at most
        with hours_ago(20):
            resolved, _ = tickets.open_ticket(
                TicketSource.WEB, requester=ann, request_key=k(),
                subject="Please install Adobe Acrobat Pro on my laptop so I can sign the supplier contracts")
            tickets.staff_reply(resolved, tess, "Installed: you'll find it in the Start menu. Restart once first.",
                                internal=False, request_key=k(), then_status="resolved")
        with hours_ago(6):
            main, _ = tickets.open_ticket(
                TicketSource.WEB, requester=ann, request_key=k(), queue="general",
                subject=MAIN_SUBJECT,
                description="Every few minutes a window asks for my password again. I type it, it disappears, "
                            "then it comes back. Nothing leaves my Outbox.",
                attachments=[tickets.attachment("outlook-error.png", None, png())])
            tickets.assign(main, tess, tess)
            tickets.set_priority(main, "high", tess)
        with hours_ago(5):
            tickets.staff_reply(main, tess, "Hi Ann, thanks for the screenshot. Could you restart your laptop and "
                                            "tell me if the window comes back?", internal=False, request_key=k())
            tickets.staff_reply(main, tess, "Probably the token cache again; check the sign-in logs.",
                                internal=True, request_key=k())
        with hours_ago(4):
            tickets.requester_reply(main, ARABIC_REPLY, request_key=k(), author=ann)
        with hours_ago(2):
            duplicate, _ = tickets.open_ticket(
                TicketSource.PHONE, requester=bob, request_key=k(), actor=tess,
                subject="VPN drops again at the hotel, same as yesterday: can't reach the file server",
                description="Please call me on +351 21 000 0000.")
            mail_down, _ = tickets.open_ticket(
                TicketSource.WEB, requester=None, name="Priya Natarajan", email="priya@example.com",
                request_key=k(),
                subject="Emails to external addresses bounce back with 550 5.7.1 since about nine o'clock")
        with hours_ago(1):
            known_issues.declare(
                "Mail to external addresses is delayed", "Messages to outside addresses bounce or sit in the Outbox.",
                "We know about this and are working with the mail provider. No need to open a ticket.",
                ["email-not-working"], tess, [mail_down], request_key=k())
        db.session.commit()
        seeded = Seeded(main=main.number, resolved=resolved.number, duplicate=duplicate.number,
                        merge_into=vpn.number)
        db.session.remove()
    return seeded


# -- the browser --------------------------------------------------------------------------------------------


class Checked(Exception):
    """A page state that isn't what it should be."""


@dataclass
class Shot:
    state: str
    who: str  # "anonymous", "walker" (signed out, has opened a ticket), "ann" or "tess"
    go: Callable[[Page, str, Seeded], None]  # brings the page to the state and checks what it's about
    error_title: bool = False


def walk_and_open_ticket(page: Page, base: str) -> None:
    """Walk the printer guide signed out until it opens a ticket (the browser remembers it)."""
    page.goto(f"{base}/flows/printer-offline")
    page.get_by_role("button", name=READY).click()
    page.get_by_role("button", name="No, nobody can print to it").click()
    page.get_by_label("Printer name or number").fill("PRN-2F-EAST")
    page.get_by_label("Where is the printer? (building, floor, room)").fill("HQ, 2nd floor, by the kitchen")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Your name").fill(WALKER[0])
    page.get_by_label("Your email address").fill(WALKER[1])
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.get_by_text("Your ticket number is")).to_be_visible()


def _see(page: Page, locator, what: str) -> None:
    try:
        expect(locator.first).to_be_visible(timeout=5000)
    except AssertionError as exc:
        raise Checked(f"missing: {what}") from exc


def home_search(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/")
    page.get_by_label("Describe your problem").fill(SEARCH)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"[?&]q=cancel"))
    _see(page, page.get_by_role("heading", name="These might help"), '"These might help"')


def home_requests(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/")
    _see(page, page.get_by_role("heading", name="Your requests from this browser"), '"Your requests from this browser"')


def flow_step(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/flows/printer-offline")
    page.get_by_role("button", name=READY).click()
    _see(page, page.locator("p.progress").filter(has_text=re.compile(r"^Step 2 of about \d+$")),
         '"Step 2 of about N"')


def contact_errors(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/contact")
    page.get_by_role("button", name="Send to the help desk").click()
    _see(page, page.locator(".error-summary"), "the error summary")
    if not page.title().startswith("Error:"):
        raise Checked(f"the title doesn't start with Error: {page.title()!r}")


def requester_ticket(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/tickets/{seeded.main}")
    _see(page, page.get_by_role("img", name="Picture: outlook-error.png"), "the picture thumbnail")
    _see(page, page.get_by_role("button", name="This is solved"), '"This is solved"')
    _see(page, page.get_by_role("button", name="Withdraw this request"), '"Withdraw this request"')
    _see(page, page.get_by_text(ARABIC_REPLY), "the Arabic reply")
    _image_loaded(page)


def requester_rating(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/tickets/{seeded.resolved}")
    _see(page, page.get_by_role("heading", name="How did we do?"), '"How did we do?"')
    _see(page, page.get_by_role("button", name="Send rating"), '"Send rating"')


def desk_queue(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/desk/")
    _see(page, page.get_by_role("link", name=re.compile(re.escape(MAIN_SUBJECT[:40]))), "the long subject")
    _see(page, page.get_by_role("button", name="Link to known issue"), "the bulk action")
    _see(page, page.get_by_role("checkbox", name=f"Choose #{seeded.main}"), "the row checkboxes")


def desk_ticket(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/desk/tickets/{seeded.main}")
    _see(page, page.get_by_label("Canned response"), "the canned responses")
    _see(page, page.get_by_role("heading", name="The requester's other tickets"), "the other tickets panel")
    _see(page, page.locator(".other-tickets li"), "a ticket in the other tickets panel")
    _see(page, page.locator(".props .priority"), "the priority")
    _image_loaded(page)


def desk_merge(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/desk/tickets/{seeded.duplicate}")
    actions = page.locator(".ticket-actions > summary")
    if actions.is_visible():  # on a phone the actions open from one line first
        actions.click()
    page.get_by_label("Merge this duplicate into ticket").fill(f"#{seeded.merge_into}")
    page.get_by_role("button", name="Merge", exact=True).click()
    _see(page, page.get_by_role("heading", name=f"Merge #{seeded.duplicate} into #{seeded.merge_into}?"),
         "the merge preview")


def desk_new(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/desk/new")
    _see(page, page.get_by_role("heading", name="New ticket"), '"New ticket"')


def flow_file_field(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/flows/printer-offline")
    page.get_by_role("button", name=READY).click()
    page.get_by_role("button", name="No, nobody can print to it").click()
    _see(page, page.get_by_label("A photo of the printer's screen or the error message"), "the file field")


def _image_loaded(page: Page) -> None:
    """Thumbnails load lazily: bring each into view, then insist it loaded (a broken image is a finding)."""
    for img in page.locator("img").all():
        img.scroll_into_view_if_needed()
        if not img.evaluate("(el) => el.complete && el.naturalWidth > 0"):
            try:
                page.wait_for_function("(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle(),
                                       timeout=5000)
            except Exception as exc:
                raise Checked(f"an image did not load: {img.get_attribute('src')}") from exc
    page.evaluate("() => window.scrollTo(0, 0)")


SHOTS = [
    Shot("home-search", "anonymous", home_search),
    Shot("home-browser-requests", "walker", home_requests),
    Shot("flow-step", "anonymous", flow_step),
    Shot("contact-errors", "anonymous", contact_errors, error_title=True),
    Shot("requester-ticket", "ann", requester_ticket),
    Shot("requester-ticket-rating", "ann", requester_rating),
    Shot("desk-queue", "tess", desk_queue),
    Shot("desk-ticket", "tess", desk_ticket),
    Shot("desk-merge-confirm", "tess", desk_merge),
    Shot("desk-new", "tess", desk_new),
    Shot("flow-file-field", "anonymous", flow_file_field),  # printer-offline's "details" step has a file field
]


def distinct_bytes(path: Path) -> int:
    """How many different byte values a PNG's pixels hold (a blank page holds very few)."""
    data, pos, idat = path.read_bytes(), 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(idat)))


class Session:
    """One browser context per person, width and JavaScript setting, signed in once."""

    def __init__(self, browser: Browser, base: str, walker_state: dict):
        self.browser, self.base, self.walker_state = browser, base, walker_state
        self.contexts: dict[tuple, BrowserContext] = {}

    def page(self, who: str, width: int, js: bool) -> Page:
        key = (who, width, js)
        if key not in self.contexts:
            options = {"java_script_enabled": js, "viewport": {"width": width, "height": HEIGHT}}
            if who == "walker":
                options["storage_state"] = self.walker_state  # this browser walked a guide and opened a ticket
            context = self.browser.new_context(**options)
            self.contexts[key] = context
            if who in ("ann", "tess"):
                sign_in(context.new_page(), self.base, ANN[0] if who == "ann" else TECH[0], PASSWORD)
        context = self.contexts[key]
        for page in context.pages:
            page.close()
        return context.new_page()

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


def take(session: Session, shot: Shot, width: int, js: bool, seeded: Seeded, outdir: Path) -> list[str]:
    """Bring one page to its state, check it, save it; the problems found (empty: none)."""
    page = session.page(shot.who, width, js)
    failures: list[str] = []

    def answered(response) -> None:
        # A server error anywhere, or a page or htmx request refused (not found, forbidden): not the state asked for.
        if response.status >= 500 or (response.status >= 400
                                       and response.request.resource_type in ("document", "xhr", "fetch")):
            failures.append(f"HTTP {response.status} from {response.url}")

    page.on("response", answered)
    problems = []
    try:
        shot.go(page, session.base, seeded)
        if not js:
            page.wait_for_load_state("load")
        else:
            page.wait_for_load_state("networkidle")
    except Checked as exc:
        problems.append(str(exc))
    except Exception as exc:  # a step that couldn't be done: save what the page shows, and say why
        problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    title = page.title()
    if title.startswith("Error") and not shot.error_title:
        problems.append(f"error page: {title!r}")
    if "Internal Server Error" in page.content():
        problems.append("Internal Server Error on the page")
    scrolled = page.evaluate("() => document.scrollingElement.scrollWidth")
    if scrolled > width:
        problems.append(f"the page scrolls sideways: {scrolled}px of content in a {width}px window")
    problems += failures
    path = outdir / f"{shot.state}-{width}-{'js' if js else 'nojs'}.png"
    page.mouse.move(0, 0)  # no hover left on the last button pressed
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    if distinct_bytes(path) < 16:
        problems.append("the screenshot looks blank")
    print(path)
    return [f"{path.name}: {p}" for p in problems]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="where to write the PNG files (created if missing)")
    outdir = parser.parse_args().outdir
    outdir.mkdir(parents=True, exist_ok=True)
    if not Path(CHROMIUM).exists():
        sys.exit(f"Screenshots need Debian's chromium at {CHROMIUM}: apt-get install -y chromium")

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="portal-shots-") as folder:
        app = portal(Path(folder))
        seeded = seed(app)
        with LiveServer(app) as live, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            walker = browser.new_context(viewport={"width": 1280, "height": HEIGHT})
            walk_and_open_ticket(walker.new_page(), live.url)
            session = Session(browser, live.url, walker.storage_state())
            walker.close()
            try:
                for shot in SHOTS:
                    for width in WIDTHS:
                        for js in (True, False):
                            problems += take(session, shot, width, js, seeded, outdir)
            finally:
                session.close()
                browser.close()
        with app.app_context():
            db.engine.dispose()
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
