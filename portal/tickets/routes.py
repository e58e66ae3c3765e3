"""The requester's side of tickets: My tickets, one ticket, replies, and Contact the help desk."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, abort, current_app, flash, make_response, redirect, request, session, url_for
from flask_login import current_user, login_required
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from ..extensions import anonymous_ticket_limit, htmx, person_limit
from ..models import TicketSource, requester_status
from ..validators import is_email
from ..web import go_to, refusal_status, refused, render, try_again
from . import attachments, queries, services
from .forms import ContactForm, RatingForm, ReplyForm, WithdrawForm, new_key
from .links import key_opens, remember_in_browser, reopen_token_fits, signed_ticket_url, submitter

bp = Blueprint("tickets", __name__, template_folder="templates")


def _viewable(number: int):
    """The ticket and its signed key (or None) if the current person may see it.

    Signed out, without a key that opens it: asked to sign in, then brought back to the ticket's
    page (an emailed link works), whether or not the ticket exists, so a stranger learns nothing.
    Signed in to an account that doesn't show it: "not found", the same page as for no ticket at all.
    """
    ticket = queries.ticket_by_number(number)
    if ticket is not None and current_user.is_authenticated and (
            current_user.is_staff or queries.is_requesters_own(ticket, current_user)):
        return ticket, None
    key = request.args.get("key")
    if ticket is not None and key_opens(key, ticket.id):
        return ticket, key
    if current_user.is_authenticated:
        abort(make_response(render(
            "error.html", status=404, title="Ticket not found",
            message=f"There's no ticket #{number} on the account you're signed in with ({current_user.email}). "
                    "If the link came to another email address, sign out and sign in with that address.")))
    if htmx and request.method == "POST":
        # A form sent in place after its sender was signed out: answered as every signed-out form is (a 401
        # that feedback.js says next to it, what was typed kept; auth_wiring), not with the sign-in page.
        abort(current_app.make_response(current_app.login_manager.unauthorized()))
    # A form sent from the ticket's page (a reply, reopen) comes back to the page, never to the form's URL.
    if key:  # a link from an email, cut short or changed on the way (said alike whether the ticket exists)
        flash(f"That link to ticket #{number} is incomplete, so it can't open the ticket: your email program may "
              "have cut it short. Open the link from the email again, all of it (it ends in a long code), or "
              "reply to the email to reach the help desk. If you have an account, sign in to see your ticket.",
              "error")
    else:
        flash("Sign in to see your ticket.", "info")
    abort(make_response(go_to(url_for("auth.signin", next=url_for("tickets.show", number=number)), code=302)))


@bp.get("/tickets")
@login_required
def mine():
    """My tickets."""
    return render("tickets/mine.html", tickets=queries.tickets_of(current_user))


@bp.get("/tickets/<int:number>")
def show(number: int):
    """One ticket: status, transcript, replies, and a reply box."""
    ticket, key = _viewable(number)
    return _ticket_page(ticket, key, ReplyForm())


def _ticket_page(ticket, key, form: ReplyForm, status: int = 200, rating_form: RatingForm | None = None,
                 files_error: str | None = None):
    requester = _is_requester(ticket, key)
    if rating_form is None and ticket.rating is not None:
        rating_form = RatingForm(formdata=None, score=ticket.rating.score, comment=ticket.rating.comment)
    return render("tickets/show.html", ticket=ticket, key=key, form=form, can_reopen=services.can_reopen(ticket),
                  changes=queries.status_changes(ticket), requester=requester,
                  closed=services.closed_for_replies(ticket),
                  follow_up_url=url_for("tickets.contact", q=services.follow_up_subject(ticket)),
                  can_rate=requester and services.can_rate(ticket),
                  rating_form=rating_form or RatingForm(formdata=None), files_error=files_error, status=status)


@bp.app_template_global("requester_status")
def _requester_status(status) -> str:
    """A status in the requester's words: "Waiting for your reply", never the desk's "pending"."""
    return requester_status(status)


def _is_requester(ticket, key) -> bool:
    """True if the person on the page asked for this help: its requester's account, or its signed link."""
    if key is not None:
        return True
    return current_user.is_authenticated and queries.is_requesters_own(ticket, current_user)


def _requesters(number: int):
    """The ticket and its key if the person is its requester; a technician looking at it is refused (403)."""
    ticket, key = _viewable(number)
    if not _is_requester(ticket, key):
        abort(make_response(render(
            "error.html", status=403, title="Only the requester can do that",
            message=f"Only the person who asked for help can mark ticket {ticket.label} solved, withdraw it or "
                    "rate it. Technicians change its status on the desk.")))
    return ticket, key


def _refuse(ticket, key, message: str):
    """The ticket's page again, saying why the action could not be done (409; 200 for a form sent in place, as
    htmx swaps no 4xx answer and the message would be lost)."""
    flash(message, "error")
    return _ticket_page(ticket, key, ReplyForm(formdata=None), status=refusal_status(409))


@bp.post("/tickets/<int:number>/solved")
def solved(number: int):
    """"This is solved": the requester resolves their own ticket, then is asked how we did."""
    ticket, key = _requesters(number)
    try:
        changed = services.requester_solved(ticket, current_user if current_user.is_authenticated else None)
    except services.ActionError as exc:
        return _refuse(ticket, key, str(exc))
    flash(f"Glad it's solved. Ticket {ticket.label} is resolved." if changed
          else f"Ticket {ticket.label} is already resolved.", "success")
    return redirect(url_for("tickets.show", number=ticket.number, key=key, _anchor="rating"), code=303)


@bp.route("/tickets/<int:number>/withdraw", methods=["GET", "POST"])
def withdraw(number: int):
    """"Withdraw this request": a page that asks to confirm (GET changes nothing), then the ticket closes."""
    ticket, key = _requesters(number)
    form = WithdrawForm()
    if request.method == "GET":
        if not ticket.is_open:
            return redirect(url_for("tickets.show", number=ticket.number, key=key), code=303)
        return render("tickets/withdraw_confirm.html", ticket=ticket, key=key, form=form)
    if not form.validate_on_submit():  # the reason is too long: the page again, with what was typed
        return render("tickets/withdraw_confirm.html", ticket=ticket, key=key, form=form, status=422)
    try:
        services.withdraw(ticket, current_user if current_user.is_authenticated else None,
                          reason=form.reason.data or "")
    except services.ActionError as exc:
        return _refuse(ticket, key, str(exc))
    flash(f"You've withdrawn request {ticket.label}. It is closed; nobody will work on it.", "success")
    return redirect(url_for("tickets.show", number=ticket.number, key=key), code=303)


@bp.post("/tickets/<int:number>/rating")
def rate(number: int):
    """"How did we do?": the requester's score (1 to 5) and comment on a resolved ticket."""
    ticket, key = _requesters(number)
    if not services.can_rate(ticket):
        return _refuse(ticket, key, services.NOT_RATABLE)
    form = RatingForm()
    if not form.validate_on_submit():
        return _ticket_page(ticket, key, ReplyForm(formdata=None), status=422, rating_form=form)
    try:
        services.rate(ticket, form.score.data, form.comment.data or "",
                      current_user if current_user.is_authenticated else None)
    except services.ActionError as exc:
        return _refuse(ticket, key, str(exc))
    flash("Thank you for rating our help.", "success")
    return redirect(url_for("tickets.show", number=ticket.number, key=key, _anchor="rating"), code=303)


@bp.post("/tickets/<int:number>/reply")
@person_limit()
def reply(number: int):
    """Add the requester's reply."""
    ticket, key = _viewable(number)
    form = ReplyForm()
    uploads, files_error = _uploads()
    if uploads and not (form.body.data or "").strip():
        form.body.data = ""  # files alone are a reply
        valid = form.validate_on_submit() or form.errors.keys() == {"body"} and len(form.body.errors) == 1
    else:
        valid = form.validate_on_submit()
    if not valid or files_error:
        return _ticket_page(ticket, key, form, files_error=files_error or _again(uploads))
    if services.closed_for_replies(ticket):  # a page left open while the ticket closed
        return _follow_up(ticket, key, form, uploads)
    author = current_user if current_user.is_authenticated else None
    services.requester_reply(ticket, form.body.data or "", request_key=form.key.data or new_key(), author=author,
                             attachments=_stored(uploads))
    return redirect(url_for("tickets.show", number=ticket.number, key=key, _anchor="replies"), code=303)


def _follow_up(closed, key, form: ReplyForm, uploads):
    """A reply to a closed ticket opens a new request with it (as an email reply does), and says so."""
    ticket, _ = services.follow_up(closed, TicketSource.WEB, form.body.data or "",
                                   request_key=form.key.data or new_key(), owner=submitter(),
                                   requester=closed.requester, attachments=_stored(uploads))
    flash(f"Request {closed.label} is closed, so we've opened a new request, {ticket.label}, with your message. "
          "The help desk will answer you there.", "success")
    if key is not None:  # the closed one's emailed link: the new one's works the same way
        remember_in_browser(ticket)
        return redirect(signed_ticket_url(ticket), code=303)
    return redirect(url_for("tickets.show", number=ticket.number), code=303)


@bp.post("/tickets/<int:number>/reopen")
def reopen(number: int):
    """The requester reopens a resolved ticket (within 7 days)."""
    ticket, key = _viewable(number)
    try:
        services.reopen(ticket, current_user if current_user.is_authenticated else None)
    except services.ActionError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Ticket {ticket.label} is open again. Tell us below what's still wrong.", "success")
    return redirect(url_for("tickets.show", number=ticket.number, key=key), code=303)


@bp.route("/tickets/<int:number>/reopen/<token>", methods=["GET", "POST"])
def reopen_link(number: int, token: str):
    """The reopen link of the "resolved" email: a page that asks to confirm, then reopens once.

    A GET changes nothing (mail scanners open links); the button posts. The link works for 7 days
    and only for the resolution it was sent for.
    """
    ticket = queries.ticket_by_number(number)
    if ticket is None or not reopen_token_fits(token, ticket) or not services.can_reopen(ticket):
        return render("tickets/reopen_expired.html", status=410)
    if request.method == "GET":
        return render("tickets/reopen_confirm.html", ticket=ticket, token=token)
    services.reopen(ticket, ticket.requester)
    if current_user.is_authenticated and queries.is_requesters_own(ticket, current_user):
        flash(f"Ticket {ticket.label} is open again. Tell us below what's still wrong.", "success")
        return redirect(url_for("tickets.show", number=ticket.number), code=303)
    return render("tickets/reopened.html", ticket=ticket)


@bp.route("/contact", methods=["GET", "POST"])
@anonymous_ticket_limit
@person_limit(methods=["POST"])
def contact():
    """Contact the help desk directly, for a problem no guide covers."""
    form = ContactForm()
    anonymous = not current_user.is_authenticated
    kept, lost = _kept_files() if form.is_submitted() else ([], False)
    if anonymous and form.is_submitted() and request.form.get("then") == "signin":
        return _sign_in_keeping(form, kept)
    if request.method == "GET":
        kept = _fill_in(form)
    valid = form.validate_on_submit()
    uploads, files_error = _uploads_besides(kept) if form.is_submitted() else ([], None)
    files_error = files_error or (attachments.again_hint() if lost else None)
    details_ok = form.is_submitted() and _contact_details_ok(form, anonymous)
    if details_ok and valid and not files_error:
        ticket, _ = services.open_ticket(TicketSource.WEB, subject=form.subject.data,
                                         attachments=attachments.from_kept(kept) + _stored(uploads),
                                         description=form.description.data or "",
                                         request_key=form.key.data or new_key(), owner=submitter(),
                                         requester=None if anonymous else current_user,
                                         name=form.name.data or "", email=form.email.data or "",
                                         time_zone=form.time_zone.data)
        if anonymous:
            remember_in_browser(ticket)
        target = signed_ticket_url(ticket) if anonymous else url_for("tickets.show", number=ticket.number)
        return redirect(target + ("&" if "?" in target else "?") + "new=1", code=303)
    if form.is_submitted():  # sent back: the files chosen are kept with it, not lost with the browser's field
        return _contact_page(form, kept + [attachments.keep(u) for u in uploads], files_error=files_error)
    return _contact_page(form, kept)


def _contact_page(form: ContactForm, kept: list | None = None, status: int = 200, files_error: str | None = None):
    return render("tickets/contact.html", form=form, anonymous=not current_user.is_authenticated, status=status,
                  files_error=files_error, kept=kept or [],
                  kept_token=_kept_signer().dumps({"by": submitter(), "files": kept}) if kept else "")


#: How long a contact form's kept files stay attached to it while the page is open (the token's age).
KEPT_FILES_SECONDS = 7 * 24 * 3600


def _kept_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="contact-kept-files")


def _kept_files() -> tuple[list[dict], bool]:
    """The files the contact form already holds (its signed ``kept`` field) less those the person removed, and
    True if some of them were lost (a page open longer than a week, a body pruned meanwhile)."""
    token = request.form.get("kept")
    if not token:
        return [], False
    try:
        sent = _kept_signer().loads(token, max_age=KEPT_FILES_SECONDS)
    except BadSignature:  # expired, or not ours
        return [], True
    if not isinstance(sent, dict) or sent.get("by") != submitter() or not isinstance(sent.get("files"), list):
        return [], True  # made for another browser or account: its files are not this person's to send
    kept = attachments.kept_refs(sent["files"])
    removed = set(request.form.getlist("drop"))
    return [ref for ref in kept if ref["key"] not in removed], len(kept) < len(sent["files"])


def _uploads_besides(kept: list) -> tuple[list, str | None]:
    """The files the form sent, and the field's message if they can't be kept, counting those it already holds."""
    uploads, error = _uploads()
    most = attachments.limits()[1]
    if kept and len(kept) + len(uploads) > most:
        return [], (f"With the {len(kept)} already attached, that makes {len(kept) + len(uploads)} files. Attach "
                    f"at most {most} at a time; send the others in a reply. {attachments.again_hint()}")
    return uploads, error


# -- attachments ------------------------------------------------------------------------------------


def _uploads() -> tuple[list, str | None]:
    """The files the form sent, and the message for the file field if they can't be kept."""
    try:
        return attachments.read_uploads(request.files.getlist("files")), None
    except attachments.UploadError as exc:
        return [], f"{exc} {attachments.again_hint()}"


def _again(uploads) -> str | None:
    """When another field sends the form back, the chosen files are not kept by the browser: say so."""
    return attachments.again_hint() if uploads else None


def _stored(uploads) -> list:
    return [services.attachment(u.filename, None, u.data) for u in uploads]


def _file(number: int, attachment_id: int):
    """The attachment and its bytes, if the person may see the ticket (and, for a requester, the message)."""
    ticket, _key = _viewable(number)
    staff = current_user.is_authenticated and current_user.is_staff
    found = attachments.find(ticket, attachment_id, staff=staff)
    data = attachments.body(found) if found is not None else None
    if data is None:
        abort(404)
    return found, data


@bp.get("/tickets/<int:number>/files/<int:attachment_id>")
def attachment(number: int, attachment_id: int):
    """A file of the ticket, always as a download (never rendered in our origin)."""
    return attachments.download(*_file(number, attachment_id))


@bp.get("/tickets/<int:number>/files/<int:attachment_id>/image")
def attachment_image(number: int, attachment_id: int):
    """A real image of the ticket (sniffed from its bytes), inline for its thumbnail."""
    found, data = _file(number, attachment_id)
    if not attachments.is_image(attachments.sniff(data)):
        abort(404)
    return attachments.inline_image(found, data)


@bp.app_template_global("attachment_limits")
def _attachment_limits() -> tuple[int, int]:
    return attachments.limits()


@bp.app_template_global("attachment_size")
def _attachment_size(size: int) -> str:
    return attachments.human_size(size)


@bp.app_template_global("attachment_accept")
def _attachment_accept() -> str:
    return attachments.ACCEPT


@bp.app_errorhandler(413)
def _too_large(_error):
    """A form whose files together are larger than MAX_CONTENT_LENGTH: a clear page, not a reset or a 500."""
    most_bytes, most_files = attachments.limits()
    return render("error.html", status=413, title="Those files are too large",
                  message=f"Everything you send at once must be under "
                          f"{attachments.human_size(current_app.config.get('MAX_CONTENT_LENGTH') or 0)}, "
                          f"with files up to {attachments.human_size(most_bytes)} each ({most_files} at most). "
                          "Go back, choose smaller files or fewer of them, and send it again: what you typed "
                          "is still on the page when you go back.")


#: "Sign in instead" on the contact form: what was typed, kept in the session while the person signs in.
DRAFT = "contact_draft"
#: The session lives in a cookie, which browsers drop beyond 4 KB (and the sign-in with it).
SESSION_COOKIE_BUDGET = 3800


def _sign_in_keeping(form: ContactForm, kept: list):
    """"Sign in instead": keep the subject, description and files, sign in, and come back to them.

    The files are stored now (as a form sent back keeps them) and the draft holds references to them.
    """
    uploads, files_error = _uploads_besides(kept)
    if files_error:  # said at the file field, before leaving: what was typed is on the page
        return _contact_page(form, kept, files_error=files_error)
    kept = kept + [attachments.keep(u) for u in uploads]
    session[DRAFT] = {"subject": (form.subject.data or "")[:200], "description": (form.description.data or "")[:10000],
                      "files": kept}
    serializer = current_app.session_interface.get_signing_serializer(current_app)
    if serializer is not None and len(serializer.dumps(dict(session))) > SESSION_COOKIE_BUDGET:
        session.pop(DRAFT)
        flash("Your description is too long to keep while you sign in. Copy it first, or send it as it is: "
              "we'll reply by email, and it shows under My tickets once you sign in with this address.", "error")
        return _contact_page(form, kept)
    return redirect(url_for("auth.signin", next=url_for("tickets.contact")), code=303)


def _fill_in(form: ContactForm) -> list[dict]:
    """The form as the person left it before signing in (and the files they had chosen), or with the words
    they searched for."""
    draft = session.pop(DRAFT, None)
    if isinstance(draft, dict):
        form.subject.data = str(draft.get("subject") or "")[:200]
        form.description.data = str(draft.get("description") or "")[:10000]
        flash("Here's what you typed before signing in. Check it and send it.", "info")
        return attachments.kept_refs(draft.get("files"))
    if request.args.get("q"):
        form.subject.data = request.args["q"][:200]
    return []


@bp.errorhandler(429)
def _refused(refusal):
    """A refused form comes back as it was typed, saying when to try again; anything else gets the page.

    Sent in place (JavaScript on), the page stays as it is, chosen files included, and static/js/feedback.js
    says at the form when to try again. A plain form comes back with the message and the text typed; the
    browser doesn't keep chosen files, so the file field says to choose them again.
    """
    if request.method != "POST" or request.endpoint not in ("tickets.contact", "tickets.reply") or htmx:
        return refused(refusal)
    chosen = any((f.filename or "").strip() for f in request.files.getlist("files"))
    files_error = attachments.again_hint() if chosen else None
    if request.endpoint == "tickets.contact":
        page = partial(_contact_page, ContactForm(), _kept_files()[0], files_error=files_error)
    else:
        try:
            page = partial(_ticket_page, *_viewable(request.view_args["number"]), ReplyForm(),
                           files_error=files_error)
        except HTTPException as not_theirs:  # signed out, or not theirs: that answer, not the refusal
            return not_theirs
    message, retry = try_again(refusal)
    flash(message, "error")
    body, _, headers = page()
    return body, 429, {**headers, **retry}


def _contact_details_ok(form: ContactForm, anonymous: bool) -> bool:
    if not anonymous:
        return True
    ok = True
    if not (form.name.data or "").strip():
        form.name.errors = [*form.name.errors, "Enter your name."]
        ok = False
    email = (form.email.data or "").strip()
    if not is_email(email):
        form.email.errors = [*form.email.errors, "Enter your email address so we can reply, like name@example.com."]
        ok = False
    return ok
