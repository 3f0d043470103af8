"""Make the OpenAPI document tell the truth about errors, credentials and methods.

Litestar documents a route's declared answers and its own 400 (as ``application/json``). arbx
answers every error as an RFC 9457 problem (``application/problem+json``, see ``errors.py``)
and each route's ``Access`` says who may call it. ``document_problems`` walks the generated
document once, after the app is built, and for every operation:

- replaces the 400 and adds 401/403 (authenticated routes),
  404 (a path parameter names a resource), 409 (changing routes), 422, 429 (rate-limited
  groups) and 503 (a store or upstream unavailable), each as a ``Problem`` body;
- states ``security: []`` for public routes (health, readiness, sign-in, refresh, logout),
  which need no credentials.

``allow_header`` fixes ``OPTIONS``: Litestar's automatic answer lists only the methods of
one handler, not every method the path serves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

from arbx.entrypoints.http.errors import PROBLEM_JSON
from arbx.entrypoints.http.security import declared_access

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, description="urn:arbx:problem:<slug>"),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING, description="what was wrong and how to fix it"),
        "instance": Schema(type=OpenAPIType.STRING),
        "field": Schema(type=OpenAPIType.STRING, description="the request field at fault"),
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT)),
    },
    description="An RFC 9457 problem; every error arbx answers has this shape.",
)

_WHY = {
    "400": "Bad request: the body or a parameter cannot be read",
    "401": "Credentials missing, invalid or expired",
    "403": "Authenticated, but the role lacks the permission (or the object is not yours)",
    "404": "No such resource",
    "409": "Conflict with the current state",
    "422": "Invalid input: the problem names the field",
    "429": "Rate limit exceeded: see Retry-After",
    "503": "A store or an upstream service is unavailable",
}
_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _problem(code: str) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=_WHY[code],
        content={PROBLEM_JSON: OpenAPIMediaType(schema=Reference("#/components/schemas/Problem"))},
    )


def document_problems(app: Litestar) -> None:
    """Rewrite ``app``'s (cached) OpenAPI document as the module docstring says."""
    document = app.openapi_schema
    components = document.components
    if components.schemas is None:
        components.schemas = {}
    components.schemas["Problem"] = PROBLEM_SCHEMA
    handlers: dict[tuple[str, str], HTTPRouteHandler] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for verb, (route_handler, _) in route.route_handler_map.items():
            handlers[(route.path_format, str(verb))] = route_handler
    for path, item in (document.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            handler = handlers.get((path, method.upper()))
            access = declared_access(handler) if handler is not None else None
            codes = ["400", "422", "503"]
            if access is not None and access.authenticated:
                codes += ["401", "403"]  # 403: no permission, or not the caller's object
            else:
                operation.security = []
                if access is not None and access.group == "auth":
                    codes.append("401")  # sign-in, refresh: wrong credentials
            if access is not None and access.group_for(method.upper()) is not None:
                codes.append("429")
            if "{" in path:
                codes.append("404")
            if method.upper() in _CHANGING:
                codes.append("409")
            if handler is not None:  # a route's own further answers, e.g. opt={"problems": ["409"]}
                codes += [
                    c for c in handler.opt.get("problems", ()) if c in _WHY and c not in codes
                ]
            responses = operation.responses if operation.responses is not None else {}
            for code in sorted(codes):
                responses[code] = _problem(code)
            operation.responses = responses


def allow_header() -> Callable[[Message, Scope], Awaitable[None]]:
    """A ``before_send`` hook: ``Allow`` on an OPTIONS answer lists every method of the path
    (a coroutine, so that it runs on the event loop, not in a worker thread)."""
    methods: dict[str, str] = {}

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
            return
        if not methods:
            for route in scope["litestar_app"].routes:
                if isinstance(route, HTTPRoute):
                    served = {m for m in route.methods if m != "OPTIONS"}
                    methods[route.path_format] = ", ".join(sorted(served | {"OPTIONS"}))
        template = _template(scope)
        if template is None or template not in methods:
            return
        headers: list[Any] = [
            (k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"
        ]
        headers.append((b"allow", methods[template].encode()))
        message["headers"] = headers

    return hook


def _template(scope: Scope) -> str | None:
    handler = scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    template = scope.get("path_template")
    if isinstance(template, str):
        return template
    if paths and len(paths) == 1:
        return str(next(iter(paths)))
    return None
