"""Checks on every request's parameters before a handler parses them (hostile input).

Query and path values are plain text for the handlers, which parse them into integers and
instants and pass them to the stores. Two kinds of value can never be valid and used to
reach a store as an error of its own (SQLite's "int too large", PostgreSQL's "bigint out
of range" or its refusal of NUL characters), so they are refused here, naming the
parameter:

- a value holding a NUL character (``\\x00``): 422;
- an integer literal outside the signed 64-bit range: 400.
"""

from __future__ import annotations

import re
from typing import Any, Final

from litestar import Request

from arbx.domain.errors import InvalidInput

INT64_MAX: Final = 2**63 - 1
_INTEGER = re.compile(r"[+-]?\d{19,}")  # 19+ digits: the only literals that can overflow


class ParameterOutOfRange(InvalidInput):
    """An integer parameter beyond what any store can hold (answered 400)."""


async def check_parameters(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: raise for NUL characters or int64 overflow in the query
    string or the path. A coroutine: Litestar runs a plain function hook in a worker thread,
    a hop per request that costs far more than the check."""
    items: list[tuple[str, str]] = list(request.query_params.multi_items())
    items.extend((name, str(value)) for name, value in request.path_params.items())
    if "\x00" in request.url.path:
        raise InvalidInput("the path contains a NUL character", field="path")
    for name, value in items:
        if "\x00" in value:
            raise InvalidInput(
                f"parameter {name!r} contains a NUL character; send plain text", field=name
            )
        if _INTEGER.fullmatch(value.strip()) and abs(int(value)) > INT64_MAX:
            raise ParameterOutOfRange(
                f"parameter {name!r} is out of range: integers here fit in 64 bits"
                f" (at most {INT64_MAX})",
                field=name,
            )
