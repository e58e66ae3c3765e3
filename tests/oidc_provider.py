"""A real OpenID provider for the SSO tests: `oidc-provider-mock` served on a loopback port.

The mock (PyPI's oidc-provider-mock, built on Authlib's server side) does discovery, JWKS, a
login page, the code flow and RS256-signed ID tokens; people are given claims with
``PUT /users/<sub>``. It accepts any client id, secret and redirect URI. Two things a real
provider does are added in front of it by :class:`Gate`, a WSGI layer in the same process:

- PKCE: a code is redeemed only with the verifier whose S256 hash was sent with the
  authorization request (Keycloak and Entra ID refuse it otherwise; the mock doesn't check);
- a key swap: ``gate.wrong_key = True`` publishes a JWKS with another key under the same key id,
  so the ID tokens the provider signs no longer match the key it publishes;
- ``gate.claimed_issuer``: a discovery document that names another issuer.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import oidc_provider_mock
import requests
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636, 4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class Gate:
    """WSGI middleware in front of the mock: checks PKCE at the token endpoint; can publish a wrong key."""

    def __init__(self, app):
        self.app = app
        self.challenges: dict[str, tuple[str, str]] = {}  # code -> (challenge, method)
        self.wrong_key = False
        self.claimed_issuer: str | None = None  # set: discovery names this issuer instead of its own
        self.refused: list[str] = []

    def _json(self, start_response, status: str, body: dict):
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def __call__(self, environ, start_response):
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if path == "/jwks" and self.wrong_key:
            published = json.loads(b"".join(self.app(environ, lambda *args: None)))
            kid = published["keys"][0]["kid"]
            other = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
            return self._json(start_response, "200 OK", KeySet([other]).as_dict(private=False))
        if path == "/.well-known/openid-configuration" and self.claimed_issuer:
            document = json.loads(b"".join(self.app(environ, lambda *args: None)))
            return self._json(start_response, "200 OK", {**document, "issuer": self.claimed_issuer})
        if path == "/oauth2/token" and method == "POST":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            expected = self.challenges.pop(form.get("code", ""), None)
            if expected is None or expected[1] != "S256" or s256(form.get("code_verifier", "")) != expected[0]:
                self.refused.append(form.get("code", ""))
                return self._json(start_response, "400 Bad Request",
                                  {"error": "invalid_grant", "error_description": "PKCE verification failed"})
        if path == "/oauth2/authorize" and method == "POST":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}

            def remember_code(status, headers, exc_info=None):
                for name, value in headers:
                    if name.lower() == "location":
                        code = parse_qs(urlsplit(value).query).get("code")
                        if code:
                            self.challenges[code[0]] = (query.get("code_challenge", ""),
                                                        query.get("code_challenge_method", ""))
                return start_response(status, headers, exc_info)

            return self.app(environ, remember_code)
        return self.app(environ, start_response)


class Provider:
    """The mock provider on 127.0.0.1, in a thread, until :meth:`stop`."""

    def __init__(self, *, token_max_age: timedelta = timedelta(hours=1)):
        self.gate = Gate(oidc_provider_mock.app(require_nonce=True, access_token_max_age=token_max_age))
        self.server = make_server("127.0.0.1", 0, self.gate, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def person(self, sub: str, **claims) -> str:
        """Give the person `sub` these claims (email, email_verified, name, groups, ...)."""
        response = requests.put(f"{self.issuer}/users/{quote(sub, safe='')}", json=claims, timeout=5)
        assert response.status_code == 204, response.text
        return sub

    def approve(self, authorize_url: str, sub: str) -> str:
        """Sign `sub` in at the provider's page, as its form does; the URL it sends the browser back to."""
        response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def deny(self, authorize_url: str) -> str:
        response = requests.post(authorize_url, data={"action": "deny"}, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text
        return response.headers["Location"]


def sso_settings(provider: Provider, **overrides) -> dict:
    """The portal's settings for signing in with `provider`."""
    return {"OIDC_ISSUER": provider.issuer, "OIDC_CLIENT_ID": "it-help-portal", "OIDC_CLIENT_SECRET": "s3cret",
            "OIDC_NAME": "Example ID", **overrides}
