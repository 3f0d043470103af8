"""Translate psycopg errors into the arbx error tree, once, at the adapter's edge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from arbx.adapters.postgres.urls import redact as redact  # re-export (cli/db.py)
from arbx.domain.errors import StorageError, StorageUnavailable


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Turn psycopg errors raised in the block into ``StorageUnavailable``/``StorageError``.

    ``OperationalError`` (connection refused or lost, pool time-out, server shutting down) means
    "try again later"; any other driver error is a storage fault that names ``action``.
    """
    try:
        yield
    except psycopg.OperationalError as exc:
        raise StorageUnavailable(
            f"PostgreSQL is unreachable while trying to {action}: {_first_line(exc)}"
        ) from exc
    except psycopg.Error as exc:
        raise StorageError(f"PostgreSQL failed to {action}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return redact(text.splitlines()[0]) if text else type(exc).__name__
