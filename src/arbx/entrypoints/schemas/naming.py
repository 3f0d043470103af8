"""How an error message names an input: as the HTTP field or as the CLI option.

``InvalidInput.field`` is always the field name (``start``); only the message follows the
face the user typed into (``start`` in a query string, ``--start`` on the command line).
"""

from __future__ import annotations

from collections.abc import Callable

Naming = Callable[[str], str]


def as_field(name: str) -> str:
    """``start`` -> ``start`` (HTTP query parameters and JSON fields)."""
    return name


def as_option(name: str) -> str:
    """``basis_window`` -> ``--basis-window`` (CLI options)."""
    return "--" + name.replace("_", "-")
