"""Who may talk to the server, and what every answer tells the browser.

One place for the web layer's defences (README "Security"):

- **Hosts**: only the names in ``DEEPLING_ALLOWED_HOSTS`` are answered (default: the bound
  host, ``localhost``, ``127.0.0.1``, ``::1``; for ``0.0.0.0`` also this machine's names and
  addresses) — a rebinding DNS name pointing at the server is refused.
- **Cross-site writes**: a state-changing request (uploads, projections and their DELETE,
  Dash callbacks, sign-in) from a browser must come from the app's own origin or one in
  ``DEEPLING_ALLOWED_ORIGINS``; clients that send neither ``Origin`` nor ``Referer``
  (curl, pipelines) are not browsers and pass.
- **Headers**: a Content-Security-Policy with the hashes of Dash's inline scripts (no other
  inline script runs, even if an escaping slip let markup in), ``nosniff``,
  ``frame-ancestors 'self'`` with ``X-Frame-Options``, a ``Referrer-Policy``.
- **Session identity**: a random id issued by the server in Flask's signed session cookie
  (the key is ``<cache>/secret_key``, made once, readable by the owner only); a cookie the
  client makes up is not a session. Uploads count against that session, against the
  client's address and (with sign-in) against the user.
- **Sign-in** (optional): a shared token (``DEEPLING_AUTH_TOKEN``), a password file
  (``DEEPLING_AUTH_PASSWORD_FILE``, lines ``user:hash`` from
  ``werkzeug.security.generate_password_hash``), or the user header of an authenticating
  reverse proxy (``DEEPLING_AUTH_PROXY_HEADER``, trusted only from the addresses in
  ``DEEPLING_AUTH_PROXY_ADDRS``, default loopback). Pipelines pushing runs
  (``/api/runs/…``) sign in with ``DEEPLING_RUNS_TOKEN``, a credential for that alone.
- **Cross-site reads that cost work**: a GET of ``/api/…`` (images, payloads, atlases, job
  results) that a browser marks as coming from another site (``Sec-Fetch-Site``) is refused,
  so another site's page cannot make visitors' browsers load data on this server.
- **Malformed requests**: JSON nested too deeply, Dash callback bodies that name no
  callback, and unknown Dash resources are 4xx answers, never 500s.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import json
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from flask import Response, jsonify, redirect, request, session
from werkzeug.security import check_password_hash

log = logging.getLogger("deepling.web.security")

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CALLBACK_PATH = "/_dash-update-component"
LOGIN_PATH = "/login"
OPEN_PATHS = (LOGIN_PATH, "/health", "/assets/deepling.css", "/assets/00_bootstrap.min.css")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
MAX_LOGIN_FAILURES = 10      # per client address and minute, then 429


@dataclass(frozen=True)
class SecuritySettings:
    """The request checks' settings (``DEEPLING_*`` environment variables, see README)."""

    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    frame_ancestors: tuple[str, ...] = ()
    auth_token: str | None = None
    auth_password_file: str | None = None
    auth_proxy_header: str | None = None
    auth_proxy_addrs: tuple[str, ...] = ("127.0.0.1", "::1")
    address_quota: bool = True
    runs_token: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "SecuritySettings":
        env = os.environ if environ is None else environ

        def items(name):
            return tuple(v.strip() for v in env.get(name, "").split(",") if v.strip())

        values = dict(
            allowed_hosts=items("DEEPLING_ALLOWED_HOSTS"),
            allowed_origins=tuple(o.rstrip("/") for o in items("DEEPLING_ALLOWED_ORIGINS")),
            frame_ancestors=items("DEEPLING_FRAME_ANCESTORS"),
            auth_token=env.get("DEEPLING_AUTH_TOKEN") or None,
            auth_password_file=env.get("DEEPLING_AUTH_PASSWORD_FILE") or None,
            auth_proxy_header=env.get("DEEPLING_AUTH_PROXY_HEADER") or None,
            auth_proxy_addrs=items("DEEPLING_AUTH_PROXY_ADDRS") or ("127.0.0.1", "::1"),
            runs_token=env.get("DEEPLING_RUNS_TOKEN") or None,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def sign_in(self) -> str | None:
        """Which sign-in is on: "token", "password", "proxy" or None."""
        if self.auth_proxy_header:
            return "proxy"
        if self.auth_password_file:
            return "password"
        if self.auth_token:
            return "token"
        return None


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_hosts(bound: str) -> set[str]:
    """Names the server answers to without configuration."""
    hosts = set(LOOPBACK_NAMES)
    if bound in ("0.0.0.0", "::", ""):
        try:
            name = socket.gethostname()
            hosts.update({name, socket.getfqdn()})
            hosts.update(socket.gethostbyname_ex(name)[2])
        except OSError:
            pass
    else:
        hosts.add(bound)
    return {h.lower().strip("[]") for h in hosts if h}


def secret_key(cache: Path) -> bytes:
    """The signing key in ``<cache>/secret_key``: made once (0600), then read."""
    path = Path(cache) / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
        raise RuntimeError(f"{path} is shorter than 32 bytes: delete it and start again "
                           "(a new key signs everyone out).") from None
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(48))
    return path.read_bytes()


def _host_name(netloc: str) -> str:
    """'Example.com:8050' → 'example.com'; '[::1]:80' → '::1'."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:netloc.find("]")] if "]" in netloc else netloc
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def _error(message: str, status: int, html_too: bool = False):
    if html_too and request.accept_mimetypes.accept_html and not request.path.startswith("/api/"):
        return Response(f"<!doctype html><title>Deepling</title><p>{html.escape(message)}</p>",
                        status=status, mimetype="text/html")
    resp = jsonify(error=message)
    resp.status_code = status
    return resp


class Guard:
    """The checks and headers, installed on a Flask server by :func:`install`."""

    def __init__(self, settings: SecuritySettings, bound_host: str, cache: Path):
        self.settings = settings
        self.hosts = {h.lower().strip("[]") for h in settings.allowed_hosts} or default_hosts(bound_host)
        self.any_host = "*" in self.hosts
        self.cache = Path(cache)
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.csp = ""

    # --- who is asking ---------------------------------------------------------------------
    def host_allowed(self) -> bool:
        return self.any_host or _host_name(request.host) in self.hosts

    def origin_allowed(self) -> bool:
        """A state-changing request from the app's own pages, an allowed origin or a
        client that is not a browser."""
        origin = request.headers.get("Origin")
        if origin is None:
            referer = request.headers.get("Referer")
            if referer is None:
                # no browser sends a cross-site POST without Origin; a fetch-metadata
                # header says so outright
                return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")
            parts = urlsplit(referer)
            origin = f"{parts.scheme}://{parts.netloc}"
        origin = origin.rstrip("/").lower()
        if origin in {o.lower() for o in self.settings.allowed_origins}:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == request.host.lower()

    def pipeline(self) -> bool:
        """A run pushed with ``DEEPLING_RUNS_TOKEN`` (``Monitor(url=…, token=…)``): that
        token is good for ``/api/runs/…`` alone, whatever the sign-in."""
        auth = request.authorization
        return bool(self.settings.runs_token and request.path.startswith("/api/runs/")
                    and auth is not None and auth.type == "bearer" and auth.token
                    and hmac.compare_digest(auth.token.encode(), self.settings.runs_token.encode()))

    def cross_site_read(self) -> bool:
        """A browser's GET of an API answer made from another site's page (an ``<img>``,
        a script, a fetch): it would make this server load and compute for that site."""
        if request.method not in ("GET", "HEAD") or not request.path.startswith("/api/"):
            return False
        site = request.headers.get("Sec-Fetch-Site", "same-origin")
        return site == "cross-site" or (site == "same-site" and not self.settings.allowed_origins)

    def user(self) -> str | None:
        """The signed-in user, or None."""
        s = self.settings
        if s.sign_in == "proxy":
            if request.remote_addr in s.auth_proxy_addrs:
                name = request.headers.get(s.auth_proxy_header, "").strip()
                return name[:200] or None
            return None
        if session.get("user"):
            return session["user"]
        auth = request.authorization
        if auth is None:
            return None
        if s.sign_in == "token" and auth.type == "bearer" and auth.token:
            return "token" if hmac.compare_digest(auth.token.encode(), s.auth_token.encode()) else None
        if auth.type == "basic":
            return self.check_password(auth.username or "", auth.password or "")
        return None

    def check_password(self, user: str, password: str) -> str | None:
        s = self.settings
        if s.sign_in == "token":
            return "token" if hmac.compare_digest(password.encode(), s.auth_token.encode()) else None
        if s.sign_in != "password":
            return None
        try:
            lines = Path(s.auth_password_file).read_text(encoding="utf-8").splitlines()
        except OSError:
            log.error("cannot read DEEPLING_AUTH_PASSWORD_FILE %s", s.auth_password_file)
            return None
        for line in lines:
            name, _, hashed = line.strip().partition(":")
            if name and hashed and not name.startswith("#") and hmac.compare_digest(name, user):
                return name if check_password_hash(hashed, password) else None
        return None

    def owner(self) -> str:
        """Who an upload counts against: ``user:<name>`` when signed in, else the server-issued
        session and the client's address (``s:<hash>|a:<hash>``)."""
        user = self.user() if self.settings.sign_in else None
        if user:
            return "user:" + _short(user)
        sid = session.get("sid")
        if not sid:
            sid = session["sid"] = secrets.token_urlsafe(16)
        return f"s:{_short(sid)}|a:{_short(request.remote_addr or '?')}"

    def _too_many_failures(self, addr: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(addr, []) if now - t < 60]
            self._failures[addr] = recent
            return len(recent) >= MAX_LOGIN_FAILURES

    def _failed(self, addr: str) -> None:
        with self._lock:
            self._failures.setdefault(addr, []).append(time.monotonic())
            if len(self._failures) > 10_000:  # bounded: forget the oldest addresses
                for old in list(self._failures)[:5_000]:
                    del self._failures[old]

    # --- the hooks -------------------------------------------------------------------------
    def before(self):
        if not self.host_allowed():
            return _error(f"This server does not answer for the host {request.host[:100]!r}. "
                          "Open it by a name its operator allowed, or have them add this one "
                          "to DEEPLING_ALLOWED_HOSTS.", 400, html_too=True)
        if request.method in UNSAFE_METHODS and not self.origin_allowed():
            return _error("Refused: this request comes from another site's page. Deepling takes "
                          "changes only from its own pages (or origins in DEEPLING_ALLOWED_ORIGINS); "
                          "pipelines send no Origin header.", 403, html_too=True)
        if self.cross_site_read():
            return _error("Refused: another site's page asked for this. Open Deepling's own "
                          "pages (or add that site to DEEPLING_ALLOWED_ORIGINS).", 403)
        if self.settings.sign_in and request.path not in OPEN_PATHS and self.user() is None \
                and not self.pipeline():
            if request.method == "GET" and request.accept_mimetypes.accept_html \
                    and not request.path.startswith(("/api/", "/_dash")):
                return redirect(f"{LOGIN_PATH}?next={_safe_next(request.full_path)}")
            resp = _error("Sign in first: open the app in a browser, or send "
                          + ("'Authorization: Bearer <token>'." if self.settings.sign_in == "token"
                             else "HTTP basic credentials." if self.settings.sign_in == "password"
                             else f"the {self.settings.auth_proxy_header} header through the proxy."), 401)
            return resp
        return None

    def after(self, resp):
        h = resp.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        if not self.settings.frame_ancestors:
            h.setdefault("X-Frame-Options", "SAMEORIGIN")
        if self.csp:
            h.setdefault("Content-Security-Policy", self.csp)
        return resp

    def login(self):
        mode = self.settings.sign_in
        nxt = _safe_next(request.values.get("next", "/"))
        message = ""
        if request.method == "POST":
            addr = request.remote_addr or "?"
            if self._too_many_failures(addr):
                return _error("Too many failed sign-ins from this address; wait a minute.", 429, True)
            user = self.check_password(request.form.get("user", ""), request.form.get("password", ""))
            if user:
                session.clear()
                session["user"] = user
                session["sid"] = secrets.token_urlsafe(16)
                return redirect(nxt)
            self._failed(addr)
            message = "That did not match; try again."
        if mode is None or mode == "proxy":
            return redirect(nxt)
        user_field = ('<label>User <input name="user" autocomplete="username" required></label>'
                      if mode == "password" else "")
        body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · Deepling</title>'
                f'<link rel="stylesheet" href="/assets/00_bootstrap.min.css"></head>'
                f'<body class="p-4"><main style="max-width:360px"><h1 class="h4">Deepling</h1>'
                f'<form method="post" action="{LOGIN_PATH}" class="d-grid gap-2">'
                f'<input type="hidden" name="next" value="{html.escape(nxt)}">{user_field}'
                f'<label>{"Password" if mode == "password" else "Access token"} '
                f'<input name="password" type="password" autocomplete="current-password" required></label>'
                f'<button class="btn btn-primary">Sign in</button>'
                f'<p class="text-danger">{html.escape(message)}</p></form></main></body></html>')
        return Response(body, status=401 if message else 200, mimetype="text/html")


def _short(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _safe_next(target: str) -> str:
    """A local path to go back to after sign-in (never another site: no open redirect)."""
    target = (target or "/").strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        return "/"
    return target.rstrip("?") or "/"


def content_security_policy(script_hashes, frame_ancestors=(), unsafe_eval=False) -> str:
    """The app's CSP: scripts only from the server and Dash's own inline scripts."""
    scripts = " ".join(["'self'", *script_hashes, *(["'unsafe-eval'"] if unsafe_eval else [])])
    frames = " ".join(["'self'", *frame_ancestors])
    return ("default-src 'self'; "
            f"script-src {scripts}; "
            "style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
            "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
            f"frame-ancestors {frames}")


def report_csp(inline_scripts) -> str:
    """The offline report's ``<meta>`` CSP: only its own inline scripts run, nothing loads
    from the network (``frame-ancestors`` cannot be set in a meta tag)."""
    hashes = " ".join(f"'sha256-{_b64sha(s)}'" for s in inline_scripts)
    return ("default-src 'none'; "
            f"script-src {hashes}; style-src 'unsafe-inline'; img-src data: blob:; "
            "base-uri 'none'; form-action 'none'")


def _b64sha(text: str) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def install(app, config, settings: SecuritySettings | None = None) -> Guard:
    """Put the checks on ``app`` (a Dash app): call before the other ``before_request``
    hooks are added, and :func:`finish` after every callback is registered."""
    server = app.server
    settings = settings or SecuritySettings.from_env()
    guard = Guard(settings, config.host, config.cache)
    server.secret_key = secret_key(Path(config.cache_path()))
    server.config.update(SESSION_COOKIE_NAME="deepling_session", SESSION_COOKIE_HTTPONLY=True,
                         SESSION_COOKIE_SAMESITE="Lax",
                         PERMANENT_SESSION_LIFETIME=7 * 24 * 3600)
    server.before_request(guard.before)
    server.after_request(guard.after)
    server.add_url_rule(LOGIN_PATH, "deepling_login", guard.login, methods=["GET", "POST"])

    @server.before_request
    def issue_session():
        # the page and the upload routes get a server-made session id (signed cookie)
        if request.path == "/" and "sid" not in session:
            session.permanent = True
            session["sid"] = secrets.token_urlsafe(16)
        return None

    if not is_loopback(config.host) and settings.sign_in is None:
        log.warning("Deepling listens on %s without sign-in: anyone who can reach this "
                    "address can use it. Set DEEPLING_AUTH_TOKEN, DEEPLING_AUTH_PASSWORD_FILE or "
                    "DEEPLING_AUTH_PROXY_HEADER (README: Security).", config.host)
    return guard


def finish(app, guard: Guard, debug: bool = False) -> None:
    """Compute the CSP once every inline (clientside) callback is registered; add the
    Dash request checks."""
    guard.csp = content_security_policy(app.csp_hashes(), guard.settings.frame_ancestors,
                                        unsafe_eval=debug)
    server = app.server

    @server.before_request
    def check_json_body():
        # after the per-route body limits (deepling.web.api): parsed once, here, so a body
        # nested too deeply is a 400 and not a RecursionError deep inside Dash
        if not (request.is_json and request.method in UNSAFE_METHODS):
            return None
        try:
            body = request.get_json(silent=True, cache=True)
        except RecursionError:
            return _error("The JSON body is nested too deeply; send a flat object.", 400)
        if request.path.startswith(CALLBACK_PATH):
            problem = _callback_problem(body, app.callback_map)
            if problem:
                return _error(f"Not a callback request this app knows: {problem}.", 400)
        return None


def _callback_problem(body, callback_map) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in callback_map:
        return f"no callback has the output {json.dumps(output)[:80]}"
    if not isinstance(body.get("outputs"), (dict, list)):
        return "'outputs' must be an object or a list"
    for name in ("inputs", "state"):
        items = body.get(name, [])
        if not isinstance(items, list) or not all(isinstance(i, (dict, list)) for i in items):
            return f"'{name}' must be a list of objects"
    if not isinstance(body.get("changedPropIds", []), list):
        return "'changedPropIds' must be a list"
    return None
