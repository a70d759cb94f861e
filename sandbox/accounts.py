"""Spotify Accounts emulation: the consent page at /accounts/authorize and the token endpoint /accounts/api/token."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, jsonify, redirect, render_template, request

from .runtime import current, guard
from .state import Grant

bp = Blueprint("accounts", __name__, url_prefix="/accounts")

# Scopes Spotify knows; anything else is `invalid_scope`.
SCOPES = frozenset({
    "ugc-image-upload", "user-read-playback-state", "user-modify-playback-state",
    "user-read-currently-playing", "app-remote-control", "streaming", "playlist-read-private",
    "playlist-read-collaborative", "playlist-modify-private", "playlist-modify-public",
    "user-follow-modify", "user-follow-read", "user-read-playback-position", "user-top-read",
    "user-read-recently-played", "user-library-modify", "user-library-read", "user-read-email",
    "user-read-private", "user-personalized",
})
LOOPBACK_HOSTS = ("127.0.0.1", "::1")


@bp.before_request
def _count():
    return guard("accounts", lambda: None)


# --- redirect URIs -------------------------------------------------------------------------------------


def redirect_allowed(uri: str, registered: tuple[str, ...]) -> bool:
    """Spotify's redirect rule: exact match, HTTPS or a loopback IP literal (port free), never `localhost`."""
    try:
        given = urlsplit(uri)
        given.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if given.hostname == "localhost":
        return False
    loopback = given.scheme == "http" and given.hostname in LOOPBACK_HOSTS
    if given.scheme != "https" and not loopback:
        return False
    for candidate in registered:
        known = urlsplit(candidate)
        if not loopback and uri == candidate:
            return True
        # Loopback IP literals may use any port (native apps pick a free one), all else must match.
        if loopback and (known.scheme, known.hostname, known.path, known.query) == (
                given.scheme, given.hostname, given.path, given.query):
            return True
    return False


def _redirect_to(uri: str, **params) -> Response:
    params = {k: v for k, v in params.items() if v is not None}
    joiner = "&" if urlsplit(uri).query else "?"
    return redirect(uri + joiner + urlencode(params), code=303)


def _error_page(message: str) -> tuple[str, int]:
    # Spotify shows a bad client or redirect URI on its own page and never redirects.
    return render_template("authorize_error.html", message=message), 400


# --- /authorize ----------------------------------------------------------------------------------------


@bp.get("/authorize")
def authorize():
    config = current().config
    args = request.args
    if args.get("client_id") != config.client_id:
        return _error_page("INVALID_CLIENT: Invalid client")
    redirect_uri = args.get("redirect_uri", "")
    if not redirect_allowed(redirect_uri, config.redirect_uris):
        return _error_page("INVALID_CLIENT: Invalid redirect URI")
    state = args.get("state")
    if args.get("response_type") != "code":
        # The implicit grant (response_type=token) was removed on 2025-11-27.
        return _redirect_to(redirect_uri, error="unsupported_response_type", state=state)
    scopes = args.get("scope", "").split()
    if not set(scopes) <= SCOPES:
        return _redirect_to(redirect_uri, error="invalid_scope", state=state)
    challenge = args.get("code_challenge")
    if challenge and args.get("code_challenge_method") != "S256":
        return _redirect_to(redirect_uri, error="invalid_request", state=state)
    request_id = current().tokens.add_pending({
        "client_id": config.client_id, "redirect_uri": redirect_uri, "state": state,
        "scope": scopes, "code_challenge": challenge})
    users = sorted(current().world.users.values(), key=lambda u: u.id)
    return render_template("authorize.html", request_id=request_id, users=users, scopes=scopes,
                           client_id=config.client_id, liked={u.id: len(current().state.liked[u.id]) for u in users})


@bp.post("/authorize")
def consent():
    """The consent form's answer: Approve redirects with a code, Deny with `access_denied`."""
    sandbox = current()
    pending = sandbox.tokens.take_pending(request.form.get("request_id", ""))
    if pending is None:
        return _error_page("Invalid or expired authorization request")
    if request.form.get("action") != "approve":
        return _redirect_to(pending["redirect_uri"], error="access_denied", state=pending["state"])
    user = sandbox.state.user(request.form.get("user_id", ""))
    if user is None:
        return _error_page("Unknown user")
    grant = Grant(pending["client_id"], user.id, frozenset(pending["scope"]),
                  pkce=bool(pending["code_challenge"]))
    code = sandbox.tokens.new_code(grant, pending["redirect_uri"], pending["code_challenge"],
                                   sandbox.config.code_ttl)
    return _redirect_to(pending["redirect_uri"], code=code, state=pending["state"])


# --- /api/token ----------------------------------------------------------------------------------------


class OAuthError(Exception):
    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error, self.description = error, description


@bp.errorhandler(OAuthError)
def _oauth_error(exc: OAuthError):
    return jsonify(error=exc.error, error_description=exc.description), 400


def _client_credentials() -> tuple[str | None, str | None]:
    """(client_id, client_secret) from a Basic header, else from the form."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Invalid client") from None
        return client_id, secret
    return request.form.get("client_id"), request.form.get("client_secret")


def _authenticate_client(pkce_allowed: bool) -> str:
    """The client id; a secret is required unless this is a PKCE exchange, and must be right when sent."""
    config = current().config
    client_id, secret = _client_credentials()
    if client_id != config.client_id:
        raise OAuthError("invalid_client", "Invalid client")
    if secret is None and not pkce_allowed:
        raise OAuthError("invalid_client", "Invalid client secret")
    if secret is not None and secret != config.client_secret:
        raise OAuthError("invalid_client", "Invalid client secret")
    return client_id


def _pkce_matches(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge


def _token_body(grant: Grant, refresh_token: str | None) -> dict:
    config = current().config
    body = {"access_token": current().tokens.issue_access(grant, config.token_ttl), "token_type": "Bearer",
            "expires_in": config.token_ttl}
    if grant.user_id is not None:
        body["scope"] = " ".join(sorted(grant.scope))
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return body


@bp.post("/api/token")
def token():
    grant_type = request.form.get("grant_type")
    if grant_type == "authorization_code":
        return jsonify(_exchange_code())
    if grant_type == "refresh_token":
        return jsonify(_refresh())
    if grant_type == "client_credentials":
        client_id = _authenticate_client(pkce_allowed=False)
        return jsonify(_token_body(Grant(client_id, None, frozenset()), None))
    if grant_type is None:
        raise OAuthError("invalid_request", "grant_type parameter is missing")
    raise OAuthError("unsupported_grant_type", f"grant_type parameter is invalid: {grant_type}")


def _exchange_code() -> dict:
    verifier = request.form.get("code_verifier")
    client_id = _authenticate_client(pkce_allowed=verifier is not None)
    code = request.form.get("code")
    if not code:
        raise OAuthError("invalid_request", "code must be supplied")
    record = current().tokens.redeem_code(code)
    if record is None or record.grant.client_id != client_id:
        raise OAuthError("invalid_grant", "Invalid authorization code")
    if request.form.get("redirect_uri") != record.redirect_uri:
        raise OAuthError("invalid_grant", "Invalid redirect URI")
    if record.code_challenge and not verifier:
        raise OAuthError("invalid_request", "code_verifier required")
    if record.code_challenge and not _pkce_matches(verifier, record.code_challenge):
        raise OAuthError("invalid_grant", "code_verifier was incorrect")
    if not record.code_challenge and verifier is not None:
        raise OAuthError("invalid_grant", "code_verifier was incorrect")
    return _token_body(record.grant, current().tokens.issue_refresh(record.grant))


def _refresh() -> dict:
    sandbox = current()
    token = request.form.get("refresh_token")
    if not token:
        raise OAuthError("invalid_request", "refresh_token must be supplied")
    record = sandbox.tokens.lookup_refresh(token)
    if record is None:
        raise OAuthError("invalid_grant", "Invalid refresh token")
    _authenticate_client(pkce_allowed=record.grant.pkce)
    if record.revoked:
        raise OAuthError("invalid_grant", "Refresh token revoked")
    # Since 2026-06-18 refresh tokens die 6 months after the original consent; refreshing doesn't extend it.
    if record.grant.consented_at + sandbox.config.refresh_ttl < time.time():
        raise OAuthError("invalid_grant", "Invalid refresh token")
    rotation = sandbox.config.refresh_rotation
    if rotation == "always" or (rotation == "pkce" and record.grant.pkce):
        sandbox.tokens.revoke_refresh(token)
        return _token_body(record.grant, sandbox.tokens.issue_refresh(record.grant))
    return _token_body(record.grant, None)
