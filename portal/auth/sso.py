"""Single sign-on with OpenID Connect, through Authlib's Flask client.

The provider is found by discovery (``OIDC_ISSUER/.well-known/openid-configuration``), its keys
by its ``jwks_uri``. Every sign-in uses the authorization code flow with PKCE (S256), a state
and a nonce kept in the person's session; the ID token must be signed by a key the issuer
publishes, name this issuer and this client, be unexpired and carry that nonce.

An identity is "ISSUER|SUB" (``User.sso_subject``), the one thing that never changes at a
provider. Its first sign-in makes an account (just in time) or links the account that has the
same email address, but only when the provider says the address is verified: an address alone
is what anyone can type into their own provider profile. An account already linked to another
identity is never taken over. With ``OIDC_ROLE_CLAIM`` set, each sign-in sets the role from
that claim, so a person removed from the group at the provider is a requester at their next
sign-in. Anything that goes wrong ends on a page that says what happened and offers to try again.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from .. import clock
from ..extensions import db
from ..models import Role, User
from ..urls import external_url
from ..validators import is_email
from ..web import render
from .routes import _after_sign_in, _safe_next
from .services import AccountError, find_user, normalise_email

bp = Blueprint("sso", __name__, template_folder="templates")

EXTENSION = "portal.sso"
#: What the portal asks for: the ID token, the address, the name. Role claims come with these
#: scopes or with the provider's own configuration (README, "Single sign-on").
SCOPES = "openid email profile"


class IssuerMismatch(RuntimeError):
    """The discovery document names another issuer than OIDC_ISSUER (a wrong URL, or a spoof)."""


@dataclass(frozen=True)
class Provider:
    """The configured identity provider: its Authlib client and how its claims map to the portal."""

    client: object  # authlib's FlaskOAuth2App
    issuer: str
    client_id: str
    name: str
    role_claim: str | None
    technician_values: frozenset[str]
    admin_values: frozenset[str]
    #: Authlib's errors for an answer it refuses: a state this browser did not start; and a token that
    #: fails the checks (signature, issuer, audience, expiry, nonce) or a code the provider refused.
    state_errors: tuple[type[Exception], ...]
    token_errors: tuple[type[Exception], ...]
    #: The provider could not be reached, or answered with something that is not a provider's answer.
    unreachable_errors: tuple[type[Exception], ...]

    def metadata(self) -> dict:
        """The discovery document (fetched once, then kept), refused if it names another issuer."""
        found = self.client.load_server_metadata()
        if str(found.get("issuer") or "").rstrip("/") != self.issuer:
            raise IssuerMismatch(f"the discovery document of {self.issuer} names issuer {found.get('issuer')!r}")
        return found

    def claims_options(self) -> dict:
        """What the ID token must say: this issuer (exactly as discovery spells it) and this client."""
        return {"iss": {"essential": True, "values": [self.metadata()["issuer"]]},
                "aud": {"essential": True, "values": [self.client_id]},
                "sub": {"essential": True}}

    def role_for(self, claims: dict) -> Role | None:
        """The role the claims give (admin first), or None when roles are not taken from the provider."""
        if not self.role_claim:
            return None
        values = claim_values(claims, self.role_claim)
        if values & self.admin_values:
            return Role.ADMIN
        if values & self.technician_values:
            return Role.TECHNICIAN
        return Role.REQUESTER


def _values(setting) -> frozenset[str]:
    if isinstance(setting, str):
        setting = setting.split(",")
    return frozenset(v.strip() for v in setting or () if v and v.strip())


def init_app(app: Flask) -> None:
    """Register the provider from the OIDC_* settings (none when OIDC_ISSUER is unset) and the SSO pages."""
    issuer = (app.config.get("OIDC_ISSUER") or "").strip().rstrip("/")
    if issuer:
        client_id = app.config.get("OIDC_CLIENT_ID")
        if not client_id:
            raise RuntimeError("OIDC_ISSUER is set but OIDC_CLIENT_ID is not: set both (README, 'Single sign-on').")
        # Imported here, not at the top, for start-up time only (there is no cycle to dodge): Authlib,
        # joserfc and requests are a large part of the portal's start, and only a configured provider uses them.
        import requests
        from authlib.common.errors import AuthlibBaseError
        from authlib.integrations.base_client import MismatchingStateError
        from authlib.integrations.flask_client import OAuth
        from joserfc.errors import JoseError

        secret = app.config.get("OIDC_CLIENT_SECRET") or None
        client = OAuth(app).register(
            "sso", client_id=client_id, client_secret=secret,
            server_metadata_url=issuer + "/.well-known/openid-configuration",
            client_kwargs={"scope": SCOPES, "code_challenge_method": "S256",
                           "token_endpoint_auth_method": "client_secret_basic" if secret else "none",
                           "default_timeout": app.config.get("OIDC_TIMEOUT", 10)})
        app.extensions[EXTENSION] = Provider(
            client=client, issuer=issuer, client_id=client_id, name=app.config.get("OIDC_NAME") or "SSO",
            role_claim=app.config.get("OIDC_ROLE_CLAIM") or None,
            technician_values=_values(app.config.get("OIDC_TECHNICIAN_VALUES")),
            admin_values=_values(app.config.get("OIDC_ADMIN_VALUES")),
            state_errors=(MismatchingStateError,), token_errors=(JoseError, AuthlibBaseError),
            unreachable_errors=(requests.RequestException, ValueError))
    elif not app.config.get("LOCAL_LOGIN", True):
        raise RuntimeError("LOCAL_LOGIN=false turns password sign-in off, so nobody could sign in: "
                           "set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET too.")

    @app.context_processor
    def _sign_in_choices():
        provider = app.extensions.get(EXTENSION)
        return {"sso_name": provider.name if provider else None,
                "local_login": bool(app.config.get("LOCAL_LOGIN", True))}

    app.register_blueprint(bp)


# --- the account of an identity (a service: writes users, commits) ------------------------------


def claim_values(claims: dict, name: str) -> set[str]:
    """The values of claim `name` as a set of strings; a dotted name reaches into objects
    (Keycloak's ``realm_access.roles``) unless a claim has that very name (Entra's role URIs)."""
    if name in claims:
        value = claims[name]
    else:
        value = claims
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {str(v) for v in value if isinstance(v, str | int) and not isinstance(v, bool)}
    return set()


def says_verified(value) -> bool:
    """True only for a provider's explicit "yes" (true, or the string "true" some providers send)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def email_verified(claims: dict) -> bool:
    """The provider vouches for the address: ``email_verified``, or Microsoft Entra's ``xms_edov``
    (the address's domain is verified by the tenant), which Entra sends instead when asked."""
    return says_verified(claims.get("email_verified")) or says_verified(claims.get("xms_edov"))


def _name(claims: dict) -> str:
    name = claims.get("name") or " ".join(
        str(claims[k]) for k in ("given_name", "family_name") if isinstance(claims.get(k), str))
    return " ".join(str(name).split())[:120] if isinstance(name, str) else ""


def _account_for(subject: str, claims: dict) -> User:
    """The account an identity signs in to: linked already, linked now by a verified address, or new."""
    user = db.session.scalar(sa.select(User).where(User.sso_subject == subject))
    if user is not None:
        return user
    email = normalise_email(claims.get("email") if isinstance(claims.get("email"), str) else "")
    if not email or not is_email(email) or len(email) > 254:
        raise AccountError("Your sign-in didn't tell the portal your email address, so it can't find or make "
                           "your account. Ask the IT desk to let the portal see your address (the 'email' claim).")
    verified = email_verified(claims)
    existing = find_user(email)
    if existing is not None:
        if existing.sso_subject:  # linked to another identity (another provider, or a re-created user)
            raise AccountError("The account with this email address is linked to another single sign-on "
                               "identity, so this one can't use it. Ask the IT desk.")
        if not verified:
            raise AccountError("An account with this email address already exists, and your sign-in doesn't "
                               "confirm that the address is yours, so it can't be linked. Sign in with your "
                               "password, or ask the IT desk.")
        if not existing.active:
            raise AccountError("This account is turned off. Ask the IT desk to turn it back on.")
        existing.sso_subject = subject
        if existing.email_verified_at is None:
            existing.email_verified_at = clock.now()  # the provider vouched for the address
        return existing
    user = User(email=email, name=_name(claims), role=Role.REQUESTER, active=True, sso_subject=subject,
                email_verified_at=clock.now() if verified else None)
    db.session.add(user)
    return user


def sign_in_identity(provider: Provider, claims: dict) -> User:
    """The active account for a checked ID token's claims, linked or made, its role set from the claim.

    Raises AccountError (with a message for the person) when the identity may not sign in.
    """
    subject = f"{claims.get('iss')}|{claims.get('sub')}"
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(subject) > 255:
        raise AccountError("Your sign-in didn't identify you in a way the portal can use. Ask the IT desk.")
    for attempt in (1, 2):
        try:
            user = _account_for(subject, claims)
            if not user.active:
                raise AccountError("This account is turned off. Ask the IT desk to turn it back on.")
            role = provider.role_for(claims)
            if role is not None:
                user.role = role
            if not user.name:
                user.name = _name(claims)
            db.session.commit()
            return user
        except IntegrityError:  # the same first sign-in twice at once (a double click): take the other's
            db.session.rollback()
            if attempt == 2:
                raise
        except AccountError:
            db.session.rollback()
            raise
    raise AssertionError("unreachable")


# --- the pages ----------------------------------------------------------------------------------

FAILURES = {
    # kind: (status, title, message); {name} is the provider's name
    "state": (400, "That sign-in didn't finish",
              "This sign-in was started in another browser or window, or more than an hour ago, so it can't be "
              "finished here. Start again from this page."),
    "cancelled": (400, "{name} didn't sign you in",
                  "The sign-in was cancelled or refused at {name}. You can try again."),
    "token": (400, "We couldn't confirm your sign-in",
              "The answer from {name} didn't pass the portal's checks (it may have expired, or belong to another "
              "sign-in). Try again; if it keeps happening, tell the IT desk."),
    "down": (502, "{name} can't be reached",
             "The portal couldn't reach {name} just now. Try again in a minute; if it keeps happening, tell the "
             "IT desk."),
    "config": (502, "Single sign-on isn't working",
               "The portal's single sign-on settings don't match what {name} says about itself. Tell the IT desk."),
}


def _provider() -> Provider:
    provider = current_app.extensions.get(EXTENSION)
    if provider is None:
        abort(404)
    return provider


def _failed(provider: Provider, kind: str, next_path: str = "", message: str | None = None, status: int = 0):
    """The page a sign-in that went wrong ends on: what happened, and a way to try again."""
    default_status, title, default_message = FAILURES.get(kind, (403, "You can't sign in with {name}", ""))
    return render("auth/sso_failed.html", status=status or default_status, title=title.format(name=provider.name),
                  message=message or default_message.format(name=provider.name), name=provider.name,
                  next=next_path if next_path and _safe_next(next_path) == next_path else "")


@bp.get("/signin/sso")
def start():
    """Send the person to the identity provider (PKCE with S256, a state and a nonce kept in the session)."""
    provider = _provider()
    next_path = request.args.get("next") or ""
    if current_user.is_authenticated:
        return redirect(_safe_next(next_path))
    redirect_uri = external_url("sso.callback")
    try:
        provider.metadata()
        found = provider.client.create_authorization_url(redirect_uri)
    except RuntimeError as exc:  # IssuerMismatch, or a discovery document without the endpoints
        current_app.logger.error("single sign-on: %s", exc)
        return _failed(provider, "config", next_path)
    except provider.unreachable_errors as exc:
        current_app.logger.warning("single sign-on: discovery at %s failed: %s", provider.issuer, exc)
        return _failed(provider, "down", next_path)
    _forget_old_flows(keep=2)
    provider.client.save_authorize_data(redirect_uri=redirect_uri, state=found["state"], nonce=found["nonce"],
                                        code_verifier=found["code_verifier"], next=next_path)
    return redirect(found["url"])


def _forget_old_flows(keep: int) -> None:
    """Keep the session cookie small: only the latest few unfinished sign-ins of a browser can finish.

    Authlib keeps each started sign-in in the session under ``_state_<client name>_<state>``.
    """
    pending = sorted((key for key in session if key.startswith("_state_sso_")),
                     key=lambda key: (session[key] or {}).get("exp") or 0)
    for key in pending[:max(len(pending) - keep, 0)]:
        session.pop(key)


@bp.get("/signin/sso/callback")
def callback():
    """Where the provider sends the person back: check its answer, then sign in as a password sign-in does."""
    provider = _provider()
    state = request.args.get("state") or ""
    flow = provider.client.framework.get_state_data(session, state) or {}
    next_path = flow.get("next") or ""
    if request.args.get("error"):
        provider.client.framework.clear_state_data(session, state)
        current_app.logger.info("single sign-on: the provider answered %r", request.args.get("error"))
        return _failed(provider, "cancelled", next_path)
    try:
        token = provider.client.authorize_access_token(claims_options=provider.claims_options())
    except provider.state_errors:
        return _failed(provider, "state", next_path)
    except provider.token_errors as exc:  # signature, issuer, audience, expiry, nonce; a refused code
        current_app.logger.warning("single sign-on: refused an answer from %s: %r", provider.issuer, exc)
        return _failed(provider, "token", next_path)
    except (KeyError, TypeError) as exc:  # an answer without the fields a token response has
        current_app.logger.warning("single sign-on: a malformed answer from %s: %r", provider.issuer, exc)
        return _failed(provider, "token", next_path)
    except RuntimeError as exc:  # IssuerMismatch, or a discovery document without jwks_uri
        current_app.logger.error("single sign-on: %s", exc)
        return _failed(provider, "config", next_path)
    except provider.unreachable_errors as exc:
        current_app.logger.warning("single sign-on: %s did not answer: %s", provider.issuer, exc)
        return _failed(provider, "down", next_path)
    claims = token.get("userinfo")
    if not claims:  # no ID token: an OAuth server that is not an OpenID provider
        current_app.logger.warning("single sign-on: %s sent no ID token", provider.issuer)
        return _failed(provider, "token", next_path)
    try:
        user = sign_in_identity(provider, dict(claims))
    except AccountError as exc:
        return _failed(provider, "account", next_path, message=str(exc))
    _after_sign_in(user)
    target = next_path or (url_for("desk.queue") if user.is_staff else None)
    return redirect(_safe_next(target), code=303)
