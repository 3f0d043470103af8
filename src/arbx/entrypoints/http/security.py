"""HTTP security: per-route access guards, rate limits, security headers and the audit hook.

Every route declares its access with one guard:

    @get("/api/v1/bars", guards=[requires(Permission.DATA_READ)])   # a permission
    @get("/api/v1/auth/me", guards=[authenticated()])                # any signed-in caller
    @post("/api/v1/auth/login", guards=[public("auth")])             # nobody needs to be known

The guard reads ``Authorization: Bearer <access JWT or API key>`` or ``X-API-Key``, resolves
the caller through ``Authorize``, applies the token-bucket limits of the route's group per
client address (before authentication, so guessing keys is limited too) and per principal,
checks the permission in ``domain/auth`` and leaves the principal for the ``principal``
dependency. Handlers never parse credentials.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, cast

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from arbx.app.authorize import AuditTrail, Authorize
from arbx.domain.auth import (
    ANONYMOUS,
    AuditOutcome,
    Permission,
    Principal,
    TooManyRequests,
    require,
)
from arbx.domain.auth.limits import RateDecision
from arbx.domain.errors import Unauthenticated
from arbx.entrypoints.http.client_address import Network, resolve_client
from arbx.ports.rate_limiter import RateLimiter

log = logging.getLogger("arbx.http.security")

STATE_KEY = "arbx_security"  # app.state key of the Gatekeeper
_PRINCIPAL = "arbx_principal"  # scope["state"] keys
_RATE = "arbx_rate"
_CLIENT = "arbx_client_address"
_REFUSED_BY_LIMIT = "arbx_refused_by_limit"
API_KEY_HEADER = "x-api-key"
SELF_AUDITED = "self_audited"  # route opt: the use case writes its own audit events
AUDIT_ACTION = "audit_action"  # route opt: the audit action name (default api.<handler>)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# pages (the web UI, the API docs) load nothing from elsewhere: every asset ships in the package
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
    " font-src 'self' data:; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none';"
    " base-uri 'self'; form-action 'self'"
)


class Gatekeeper:
    """What the guards and hooks need, resolved once per app: Authorize, the limiter, the
    audit trail. Stored in ``app.state`` under ``STATE_KEY``."""

    def __init__(
        self,
        *,
        authorize: Callable[[], Awaitable[Authorize]],
        audit: Callable[[], Awaitable[AuditTrail]],
        limiter: RateLimiter,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.trusted_proxies = tuple(trusted_proxies)
        self._authorize_provider = authorize
        self._audit_provider = audit
        self._authorize: Authorize | None = None
        self._audit: AuditTrail | None = None
        self.limiter = limiter

    async def authorize(self) -> Authorize:
        if self._authorize is None:
            self._authorize = await self._authorize_provider()
        return self._authorize

    async def audit(self) -> AuditTrail:
        if self._audit is None:
            self._audit = await self._audit_provider()
        return self._audit

    def limit(self, state: dict[str, Any], group: str, key: str) -> None:
        """Take one request from ``key``'s bucket in ``group``; remember the tightest
        decision for the RateLimit headers; raise ``TooManyRequests`` when empty."""
        decision = self.limiter.hit(group, key)
        seen: RateDecision | None = state.get(_RATE)
        if seen is None or decision.remaining < seen.remaining or not decision.allowed:
            state[_RATE] = decision
        if not decision.allowed:
            raise TooManyRequests(
                f"rate limit of the {group!r} routes exceeded; retry in"
                f" {math.ceil(decision.retry_after)} s",
                retry_after=decision.retry_after,
            )


class Access:
    """A route's declared access: a guard callable that Litestar runs before the handler.

    ``permission`` None with ``authenticated`` False is a public route; ``group`` names the
    rate-limit bucket (None: ``read`` for GET/HEAD, ``write`` otherwise; public routes without
    a group are not limited).
    """

    def __init__(
        self, permission: Permission | None, *, authenticated: bool, group: str | None
    ) -> None:
        self.permission = permission
        self.authenticated = authenticated or permission is not None
        self.group = group

    def __repr__(self) -> str:
        if self.permission is not None:
            return f"requires({self.permission.value})"
        return "authenticated()" if self.authenticated else f"public({self.group})"

    def group_for(self, method: str) -> str | None:
        if self.group is not None or not self.authenticated:
            return self.group
        return "read" if method in READ_METHODS else "write"

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: Any) -> None:
        gate = gatekeeper(connection)
        state = _scope_state(connection.scope)
        group = self.group_for(str(connection.scope.get("method", "GET")))
        if group is not None:
            _limited(gate, state, group, f"address:{client_address(connection.scope) or '-'}")
        if not self.authenticated:
            return
        authorize = await gate.authorize()
        principal = await authorize.principal(credential_of(connection))
        state[_PRINCIPAL] = principal
        if group is not None:
            _limited(gate, state, group, f"principal:{principal.actor}")
        if self.permission is not None:
            require(principal, self.permission)


def _limited(gate: Gatekeeper, state: dict[str, Any], group: str, key: str) -> None:
    """``gate.limit``, marking a refusal in the request state: a route whose use case audits
    itself (sign-in) never runs then, so the audit middleware records the 429 instead."""
    try:
        gate.limit(state, group, key)
    except TooManyRequests:
        state[_REFUSED_BY_LIMIT] = True
        raise


def requires(permission: Permission, *, group: str | None = None) -> Access:
    """The guard of a route that needs ``permission`` (see ``domain/auth/permissions.py``)."""
    return Access(permission, authenticated=True, group=group)


def authenticated(*, group: str | None = None) -> Access:
    """The guard of a route any authenticated caller may use (their own account)."""
    return Access(None, authenticated=True, group=group)


def public(group: str | None = None) -> Access:
    """The guard of a route that needs no credentials; ``group`` limits it per address."""
    return Access(None, authenticated=False, group=group)


def declared_access(handler: BaseRouteHandler) -> Access | None:
    """The ``Access`` a route handler declares (None when it declares none)."""
    found = [guard for guard in handler.guards or () if isinstance(guard, Access)]
    return found[0] if len(found) == 1 else None


def gatekeeper(connection: ASGIConnection[Any, Any, Any, Any]) -> Gatekeeper:
    gate = connection.app.state.get(STATE_KEY)
    if not isinstance(gate, Gatekeeper):
        raise RuntimeError("the app was built without its Gatekeeper (see create_app)")
    return gate


def credential_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The bearer token or API key of the request (Authorization wins over X-API-Key)."""
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("use 'Authorization: Bearer <token or API key>'")
        return value.strip()
    return connection.headers.get(API_KEY_HEADER)


def client_address(scope: Scope) -> str | None:
    """The TCP peer, or the client that trusted proxies name (see ``client_address.py``);
    resolved once per request."""
    state = _scope_state(scope)
    if _CLIENT in state:
        return cast("str | None", state[_CLIENT])
    client = scope.get("client")
    peer = str(client[0]) if client else None
    app = scope.get("litestar_app")
    gate = app.state.get(STATE_KEY) if app is not None else None
    proxies = gate.trusted_proxies if isinstance(gate, Gatekeeper) else ()
    if proxies:
        headers = Headers.from_scope(scope)
        peer = resolve_client(
            peer, headers.get("forwarded"), headers.get("x-forwarded-for"), proxies
        )
    state[_CLIENT] = peer
    return peer


def _scope_state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The ``principal`` named dependency: the caller the route's guard authenticated."""
    principal = _scope_state(request.scope).get(_PRINCIPAL)
    if not isinstance(principal, Principal):
        raise Unauthenticated("authentication required: send a bearer token or an API key")
    return principal


def provide_client_address(request: Request[Any, Any, Any]) -> str | None:
    """The ``client_address`` named dependency (for audit events)."""
    return client_address(request.scope)


def security_headers(*, tls_only_hsts: bool = True) -> Callable[[Message, Scope], Awaitable[None]]:
    """A ``before_send`` hook: security headers on every response, and the RateLimit headers
    of the request's tightest bucket. A coroutine, as every hook here: Litestar runs a plain
    function hook in a worker thread, for every message sent (two hops per request, and the
    threads then fight the event loop for the GIL: that was the bars route's p99 tail)."""

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        path = str(scope.get("path", ""))
        _set_default(headers, "X-Content-Type-Options", "nosniff")
        _set_default(headers, "X-Frame-Options", "DENY")
        _set_default(headers, "Referrer-Policy", "no-referrer")
        _set_default(headers, "Cross-Origin-Opener-Policy", "same-origin")
        csp = API_CSP if path.startswith("/api/") or path in ("/health", "/ready") else PAGE_CSP
        _set_default(headers, "Content-Security-Policy", csp)
        if scope.get("scheme") in ("https", "wss") or not tls_only_hsts:
            _set_default(headers, "Strict-Transport-Security", "max-age=31536000")
        if path.startswith("/api/"):
            _set_default(headers, "Cache-Control", "no-store")
        decision = scope.get("state", {}).get(_RATE)
        if isinstance(decision, RateDecision):
            headers["RateLimit-Limit"] = str(decision.limit)
            headers["RateLimit-Remaining"] = str(max(0, decision.remaining))
            headers["RateLimit-Reset"] = str(math.ceil(decision.reset_after))
            if not decision.allowed:
                headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))

    return hook


def _set_default(headers: MutableScopeHeaders, name: str, value: str) -> None:
    if name not in headers:
        headers[name] = value


def outcome_of(status: int) -> AuditOutcome:
    if status < 400:
        return AuditOutcome.SUCCESS
    if status in (401, 403, 429):
        return AuditOutcome.DENIED
    return AuditOutcome.FAILURE


_NOT_ACTION = re.compile(r"[^a-z0-9_]+")


def audit_action(handler: BaseRouteHandler) -> str:
    """The audit action of a route: its ``audit_action`` opt, else ``api.<handler name>``."""
    named = handler.opt.get(AUDIT_ACTION)
    if isinstance(named, str):
        return named
    name = _NOT_ACTION.sub("_", handler.handler_name.lower()).strip("_") or "request"
    if not name[0].isalpha():
        name = "h" + name
    return f"api.{name}"[:64]


class AuditMiddleware:
    """Records every state-changing request (who, what, target, when, from where, outcome)
    after it completed, unless the route's use case audits itself (``opt[SELF_AUDITED]``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope["type"]) != "http" or scope.get("method") not in STATE_CHANGING:
            await self.app(scope, receive, send)
            return
        handler = scope.get("route_handler")
        if handler is None:
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            # a self-audited route records its own outcome, unless the rate limit refused
            # the request before its use case ran
            if not handler.opt.get(SELF_AUDITED) or _scope_state(scope).get(_REFUSED_BY_LIMIT):
                await _record(scope, handler, status)


async def _record(scope: Scope, handler: BaseRouteHandler, status: int) -> None:
    gate = scope["litestar_app"].state.get(STATE_KEY)
    if not isinstance(gate, Gatekeeper):
        return
    principal = scope.get("state", {}).get(_PRINCIPAL)
    actor = principal.actor if isinstance(principal, Principal) else ANONYMOUS
    method, path = scope.get("method", "?"), str(scope.get("path", ""))
    try:
        trail = await gate.audit()
        await trail.record(
            actor,
            audit_action(handler),
            outcome_of(status),
            target=path[:200],
            client_address=client_address(scope),
            detail=f"{method} {path} -> {status}"[:500],
        )
    except Exception:  # the response is sent; losing the record must be loud, not fatal
        log.exception("could not write the audit record of %s %s", method, path)


def undeclared_access(handlers: Iterable[BaseRouteHandler]) -> list[str]:
    """Names of the handlers that declare no access (for start-up checks and tests)."""
    return [h.handler_name for h in handlers if declared_access(h) is None]
