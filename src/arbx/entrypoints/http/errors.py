"""ONE map from errors to RFC 9457 problem responses (most specific class first)."""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.exceptions import PermissionDeniedException as LitestarForbidden

from arbx.domain.auth.errors import TooManyRequests
from arbx.domain.errors import (
    ArbxError,
    Conflict,
    ExchangeError,
    ExchangeUnavailable,
    ExternalError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    StorageError,
    StorageUnavailable,
    Unauthenticated,
)
from arbx.entrypoints.http.input_checks import ParameterOutOfRange

log = logging.getLogger("arbx.http")
PROBLEM_JSON = "application/problem+json"

# (class, status, slug); the first class that matches (isinstance) wins.
ERROR_MAP: tuple[tuple[type[ArbxError], int, str], ...] = (
    (ParameterOutOfRange, 400, "bad-request"),
    (InvalidInput, 422, "invalid-input"),
    (NotFound, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (Unauthenticated, 401, "unauthenticated"),
    (Forbidden, 403, "forbidden"),
    (RateLimited, 429, "rate-limited"),
    (TooManyRequests, 429, "too-many-requests"),
    (ExchangeUnavailable, 503, "exchange-unavailable"),
    (ExchangeError, 502, "exchange-error"),
    (StorageUnavailable, 503, "storage-unavailable"),
    (StorageError, 500, "storage-error"),
    (ExternalError, 502, "upstream-error"),
    (ArbxError, 500, "error"),
)


def problem(
    request: Request[Any, Any, Any],
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": f"urn:arbx:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update({k: v for k, v in extensions.items() if v is not None})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def arbx_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, ArbxError)
    status, slug = next((st, sl) for cls, st, sl in ERROR_MAP if isinstance(exc, cls))
    headers = None
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
    elif isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    elif isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="arbx"'}
    if status >= 500:
        log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc.message)
    return problem(
        request,
        status,
        slug,
        exc.title,
        exc.message,
        headers=headers,
        field=getattr(exc, "field", None),
        errors=exc.details or None,
    )


def http_exception_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    """Litestar's own errors (malformed JSON, missing query parameter, 404 route...)."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    detail = exc.detail or "request failed"
    extra = getattr(exc, "extra", None)
    if isinstance(exc, ValidationException):
        slug, title = "bad-request", "bad request"
    elif isinstance(exc, NotAuthorizedException):
        slug, title = "unauthenticated", "unauthenticated"
    elif isinstance(exc, LitestarForbidden):
        slug, title = "forbidden", "forbidden"
    elif status == 400:
        slug, title = "bad-request", "bad request"
    else:
        slug, title = f"http-{status}", HTTPStatus(status).phrase.lower()
    errors = extra if isinstance(extra, list) else None
    return problem(request, status, slug, title, detail, headers=exc.headers, errors=errors)


def undecodable_body_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    """A body the JSON decoder cannot take: nested too deeply (the decoder's recursion
    limit) or not UTF-8. The client's fault, so a 400, never a 500."""
    if isinstance(exc, RecursionError):
        detail = "the JSON body is nested too deeply; arbx requests are a few levels deep"
    else:
        detail = "the request body is not valid UTF-8 text"
    return problem(request, 400, "bad-request", "bad request", detail)


def internal_error_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    """Anything unexpected: log it with its traceback, answer without leaking internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, 500, "internal", "internal error", "the server failed; see its log")


EXCEPTION_HANDLERS = {
    ArbxError: arbx_error_handler,
    HTTPException: http_exception_handler,
    RecursionError: undecodable_body_handler,
    UnicodeDecodeError: undecodable_body_handler,
    Exception: internal_error_handler,
}

__all__ = ["ERROR_MAP", "EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "problem"]
