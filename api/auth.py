"""Who is asking: browser sessions (cookie), API tokens (Authorization: Bearer), roles, login and rate limits.

Reads stay open to everyone. Writes ask `Auth.require`, which answers 401 (no or dead credentials) or 403
(wrong role) before a request body is read. Sessions, tokens and rate-limit counters live in the shared store
(layers.accounts), so every server process agrees. Writes made with the session cookie carry a CSRF token
(form field `csrftoken` or header `X-CSRF-Token`): itsdangerous signs it, bound to the session (or, on the
login page, to a random `atlas_csrf` cookie) and dated; requests with a Bearer token need none.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadData, URLSafeTimedSerializer

from api.errors import BadRequest, Forbidden, NotAuthenticated, RateLimited
from api.settings import ServerSettings
from layers.accounts import AccountStore, User, digest


def body(required: list[str], properties: dict[str, Any], *, form: bool = True) -> dict[str, Any]:
    """An OpenAPI requestBody taking JSON, and the same fields as a browser form (with its CSRF token)."""
    schema = {"type": "object", "required": required, "properties": properties}
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if form:
        fields = {**properties, "csrftoken": {"type": "string"}}
        content["application/x-www-form-urlencoded"] = {"schema": {**schema, "properties": fields}}
    return {"requestBody": {"required": bool(required), "content": content}}


TEXT = {"type": "string", "maxLength": 200}
SESSION_COOKIE = "atlas_session"
CSRF_COOKIE = "atlas_csrf"  # binds the login form's token before there is a session
CSRF_FIELD = "csrftoken"
CSRF_HEADER = "x-csrf-token"


def wants_html(request: Request) -> bool:
    """Whether the client is a browser asking for a page (Accept: text/html) rather than JSON."""
    if request.query_params.get("f") == "json":
        return False
    return request.query_params.get("f") == "html" or "text/html" in request.headers.get("accept", "")


class Auth:
    """Authentication and authorisation of one server over the shared store."""

    def __init__(self, store: AccountStore, settings: ServerSettings) -> None:
        self.store = store
        self.settings = settings
        self._signer: URLSafeTimedSerializer | None = None

    @property
    def signer(self) -> URLSafeTimedSerializer:
        """Signs CSRF tokens with the secret every server process shares (made once in the store)."""
        if self._signer is None:
            self._signer = URLSafeTimedSerializer(self.store.secret(), salt="atlas-csrf")
        return self._signer

    def _binding(self, request: Request) -> str | None:
        if session := request.cookies.get(SESSION_COOKIE):
            return "s" + digest(session)[:32]
        if anonymous := request.cookies.get(CSRF_COOKIE) or request.scope.get("atlas.new_csrf"):
            return "a" + digest(str(anonymous))[:32]
        return None

    def csrf_token(self, request: Request) -> str:
        """The CSRF token the forms of this page send back (a login page also gets an `atlas_csrf` cookie)."""
        binding = self._binding(request)
        if binding is None:
            request.scope["atlas.new_csrf"] = secrets.token_urlsafe(24)
            binding = self._binding(request)
        return str(self.signer.dumps(binding))

    def check_csrf(self, request: Request, form: Mapping[str, Any]) -> None:
        """403 unless a cookie-borne write carries the token of its session (Bearer requests need none)."""
        if request.scope.get("atlas.token") is not None or request.headers.get("authorization", "").lower().startswith(
            "bearer "
        ):
            return
        given = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
        binding = self._binding(request)
        try:
            ok = (
                binding is not None
                and self.signer.loads(given, max_age=int(self.settings.session_hours * 3600)) == binding
            )
        except BadData:
            ok = False
        if not ok:
            raise Forbidden(
                "the form's CSRF token is missing, expired or not this session's: reload the page and send again "
                f"(scripts: send the '{CSRF_FIELD}' field or the X-CSRF-Token header, or use a Bearer token) / "
                "biểu mẫu đã hết hạn, hãy tải lại trang"
            )

    def render(
        self, templates: Jinja2Templates, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        """A page of the intake with its CSRF token (and the `atlas_csrf` cookie when the token needs one)."""
        response = templates.TemplateResponse(
            request, name, {"csrf": self.csrf_token(request), "user": None} | context, status_code=status
        )
        if new := request.scope.get("atlas.new_csrf"):
            response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="lax", secure=self.secure(request), path="/")
        return response

    def address(self, request: Request) -> str:
        """The client's address (as the trusted proxy reports it)."""
        return request.client.host if request.client else ""

    def secure(self, request: Request) -> bool:
        """Whether cookies get `Secure`: the public address or the forwarded scheme is HTTPS."""
        public = (self.settings.public_url or "").lower().startswith("https://")
        return public or request.url.scheme == "https"

    def user(self, request: Request) -> User | None:
        """The account of the request (Bearer token first, then the session cookie), or None."""
        cached = request.scope.get("atlas.user", False)
        if cached is not False:
            return cached
        found: User | None = None
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            hit = self.store.token_user(header[7:].strip())
            if hit is None:
                raise NotAuthenticated(
                    "the API token is unknown, revoked or its account disabled / "
                    "mã truy cập không hợp lệ hoặc đã bị thu hồi"
                )
            found = hit[0]
            request.scope["atlas.token"] = hit[1]
        elif cookie := request.cookies.get(SESSION_COOKIE):
            found = self.store.session_user(cookie)
        request.scope["atlas.user"] = found
        return found

    def require(self, request: Request, *, review: bool = False, admin: bool = False) -> User:
        """The account of the request, or 401 without one and 403 without the role."""
        user = self.user(request)
        if user is None:
            raise NotAuthenticated(
                "log in (POST /login) or send Authorization: Bearer <token> / hãy đăng nhập hoặc gửi mã truy cập"
            )
        if admin and user.role != "admin":
            raise Forbidden(
                f"account {user.username!r} ({user.role}) is not an admin / chỉ quản trị viên được làm việc này"
            )
        if review and not user.can_review():
            raise Forbidden(
                f"account {user.username!r} ({user.role}) is not a reviewer / chỉ người duyệt được làm việc này"
            )
        token = request.scope.get("atlas.token")
        if token is not None and request.method not in ("GET", "HEAD"):
            self.store.record(user.username, "token-write", request.url.path, f"token {token}", self.address(request))
        return user

    def limit(self, key: str, limit: int, window: int, what: str, *, count: bool = True) -> None:
        """Count an attempt (or, with count=False, only look); 429 past `limit` per `window` seconds."""
        wait = self.store.hit(key, limit, window) if count else self.store.blocked(key, limit, window)
        if wait is not None:
            raise RateLimited(
                f"too many {what}: at most {limit} per {window // 60} minutes; try again in {wait} s / "
                f"quá nhiều lần, thử lại sau {wait} giây",
                wait,
            )


def auth_routes(auth: Auth, templates: Jinja2Templates, base: str) -> APIRouter:
    """Login, logout and API tokens."""
    router = APIRouter()
    settings = auth.settings

    @router.get("/login", response_class=HTMLResponse, summary="Login page")
    def login_page(request: Request, next: str = "/intake/") -> Response:
        """The login form."""
        return auth.render(templates, request, "intake/login.html", {"next": _local(next), "error": None})

    @router.post(
        "/login",
        summary="Log in",
        response_model=None,
        openapi_extra=body(["username", "password"], {"username": TEXT, "password": TEXT, "next": TEXT}),
    )
    async def login(request: Request) -> Response:
        """Check a user name and password (form or JSON); start a session (cookie)."""
        payload = await form_payload(request)
        if not request.headers.get("content-type", "").startswith("application/json"):
            auth.check_csrf(request, payload)  # a form: only from the atlas's own login page
        username = str(payload.get("username", "")).strip().lower()
        password = str(payload.get("password", ""))
        address = auth.address(request)
        keys = (f"login:{address}", f"login-user:{username}")
        for key in keys:  # failed logins are counted; past the limit even a right password waits
            auth.limit(key, settings.login_attempts, settings.login_window, "failed logins", count=False)
        user = auth.store.authenticate(username, password)
        if user is None:
            for key in keys:
                auth.store.hit(key, settings.login_attempts, settings.login_window)
            auth.store.record(
                username or "?", "login-failed", "", "wrong name or password, or account disabled", address
            )
            message = "sai tên đăng nhập hoặc mật khẩu / wrong user name or password"
            if wants_html(request):
                context = {"next": _local(str(payload.get("next", ""))), "error": message}
                return auth.render(templates, request, "intake/login.html", context, 401)
            raise NotAuthenticated(message)
        token = auth.store.new_session(user, address, settings.session_hours)
        auth.store.record(user.username, "login", "", "", address)
        target = _local(str(payload.get("next", ""))) or "/intake/"
        response: Response = (
            RedirectResponse(base + target, status_code=303)
            if wants_html(request) or not request.headers.get("content-type", "").startswith("application/json")
            else JSONResponse({"username": user.username, "role": user.role, "units": list(user.units)})
        )
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(settings.session_hours * 3600),
            httponly=True,
            samesite="lax",
            secure=auth.secure(request),
            path="/",
        )
        return response

    @router.post("/logout", summary="Log out", response_model=None)
    async def logout(request: Request) -> Response:
        """End the session."""
        user = auth.user(request)
        auth.check_csrf(request, await form_payload(request))
        if cookie := request.cookies.get(SESSION_COOKIE):
            auth.store.end_session(cookie)
        if user is not None:
            auth.store.record(user.username, "logout", "", "", auth.address(request))
        response = RedirectResponse(base + "/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/account/tokens", summary="My API tokens", response_model=None)
    def my_tokens(request: Request) -> Response:
        """The account's API tokens (never their secrets)."""
        user = auth.require(request)
        listed = auth.store.tokens(None if user.role == "admin" else user.username)
        if wants_html(request):
            return auth.render(
                templates, request, "intake/tokens.html", {"user": user, "tokens": listed, "secret": None}
            )
        return JSONResponse({"tokens": [t.__dict__ for t in listed]})

    @router.post(
        "/account/tokens", summary="Make an API token", response_model=None, openapi_extra=body([], {"name": TEXT})
    )
    async def make_token(request: Request) -> Response:
        """Make an API token; its secret is shown once."""
        user = auth.require(request)
        form = await form_payload(request)
        auth.check_csrf(request, form)
        token, secret = auth.store.new_token(user.username, str(form.get("name", "")))
        auth.store.record(user.username, "token-created", f"token {token.id}", token.name, auth.address(request))
        if wants_html(request):
            listed = auth.store.tokens(None if user.role == "admin" else user.username)
            context = {"user": user, "tokens": listed, "secret": secret}
            return auth.render(templates, request, "intake/tokens.html", context, 201)
        return JSONResponse({**token.__dict__, "token": secret}, status_code=201)

    @router.post("/account/tokens/{token_id}/revoke", summary="Revoke an API token", response_model=None)
    async def revoke_token(request: Request, token_id: int) -> Response:
        """Revoke one of the account's tokens (admins: any)."""
        user = auth.require(request)
        auth.check_csrf(request, await form_payload(request))
        token = auth.store.token(token_id)
        if token.username != user.username and user.role != "admin":
            raise Forbidden(f"token {token_id} belongs to another account")
        done = auth.store.revoke_token(token_id)
        auth.store.record(user.username, "token-revoked", f"token {token_id}", done.name, auth.address(request))
        if wants_html(request):
            return RedirectResponse(base + "/account/tokens", status_code=303)
        return JSONResponse(done.__dict__)

    return router


async def form_payload(request: Request) -> dict[str, Any]:
    """A small form or JSON body as a dict."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            data = await request.json()
        except ValueError:
            raise BadRequest("the body is not valid JSON") from None
        return data if isinstance(data, dict) else {}
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return {k: v for k, v in (await request.form(max_files=0, max_fields=20)).items() if isinstance(v, str)}
    return {}


def _local(target: str) -> str:
    """A redirect target kept inside the atlas (a path, never another site)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return quote(target, safe="/?=&-_.~%")
