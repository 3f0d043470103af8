"""Connections to S3-compatible object storage and the translation of its errors.

Credentials, region and endpoint come from ``S3Options`` (the config's ``[storage.s3]``)
where given, else from the usual AWS_* environment variables (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP), which obstore and
polars read themselves. No message built here ever holds a key or a secret: refusals name
the bucket, the endpoint and the S3 error code only.
"""

from __future__ import annotations

import os
import re
from typing import Any

import msgspec
import polars as pl
from obstore import exceptions as obx

from arbx.domain.errors import ArbxError, InvalidInput, StorageUnavailable


class S3Options(msgspec.Struct, frozen=True, kw_only=True):
    """Plain connection values; empty: take the AWS_* environment variable."""

    endpoint: str = ""
    region: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    allow_http: bool = False

    def __repr__(self) -> str:
        return f"S3Options(endpoint={self.endpoint!r}, region={self.region!r}, secrets=***)"


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ("bucket", "some/key")."""
    bucket, _, rest = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket:
        raise InvalidInput(f"{url} names no bucket; write s3://BUCKET/PATH")
    return bucket, rest.strip("/")


def s3_store(bucket: str, options: S3Options | None = None) -> Any:
    """An obstore ``S3Store`` for ``bucket``: ``options`` over the AWS_* variables."""
    from obstore.store import S3Store

    options = options or S3Options()
    config: Any = {
        name: value
        for name, value in (
            ("endpoint", options.endpoint),
            ("region", options.region),
            ("access_key_id", options.access_key_id),
            ("secret_access_key", options.secret_access_key),
        )
        if value
    }
    client: Any = {"allow_http": True} if options.allow_http else None
    return S3Store.from_url(f"s3://{bucket}", config=config or None, client_options=client)


def location(store: Any) -> str:
    """Where ``store`` points, for messages: ``s3://bucket at endpoint`` (no credentials)."""
    config = getattr(store, "config", None) or {}
    bucket = config.get("bucket", "?")
    endpoint = config.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
    return f"s3://{bucket} at {endpoint}"


def scan_options(store: Any) -> dict[str, str]:
    """polars ``storage_options`` reaching the same bucket as ``store`` (the values given
    explicitly; polars reads the AWS_* variables for the rest)."""
    config = getattr(store, "config", None) or {}
    options = {
        f"aws_{name}": str(config[name])
        for name in ("region", "access_key_id", "secret_access_key", "session_token")
        if config.get(name)
    }
    if config.get("endpoint"):
        options["aws_endpoint_url"] = str(config["endpoint"])
    client = getattr(store, "client_options", None) or {}
    if str(client.get("allow_http", "")).lower() == "true":
        options["aws_allow_http"] = "true"
    return options


_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>")
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId": "the access key id is not known there",
    "SignatureDoesNotMatch": "the secret access key does not match the access key id",
    "AccessDenied": "the credentials are not allowed to do this",
    "ExpiredToken": "the session token has expired",
    "InvalidToken": "the session token is not valid",
}


def refusal(exc: BaseException) -> str | None:
    """Why object storage refused the credentials (403 or a credential error code), or
    None when ``exc`` is another failure."""
    text = str(exc)
    found = _CODE.search(text)
    code = found.group(1) if found else ""
    if code in _CREDENTIAL_CODES:
        return f"{code}: {_CREDENTIAL_CODES[code]}"
    if isinstance(exc, (obx.PermissionDeniedError, obx.UnauthenticatedError)) or (
        "403 Forbidden" in text
    ):
        return f"{code or '403 Forbidden'}: the credentials were refused"
    return None


def translate(exc: Exception, what: str, store: Any = None, *, named: bool = False) -> Exception:
    """An obstore failure in arbx's words. ``named``: the location came with the request
    (a command's ``--to s3://...``): refusals are the request's problem (``InvalidInput``);
    else the configured store is unusable (``StorageUnavailable``)."""
    if isinstance(exc, ArbxError):
        return exc
    where = location(store) if store is not None else "object storage"
    why = refusal(exc)
    if why is not None:
        message = (
            f"{where} refused the credentials to {what} ({why}); check AWS_ACCESS_KEY_ID and"
            " AWS_SECRET_ACCESS_KEY (or [storage.s3] in the config); nothing was written"
        )
        return InvalidInput(message) if named else StorageUnavailable(message)
    if isinstance(exc, obx.BaseError | OSError | pl.exceptions.PolarsError):
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        for secret in _secrets(store):
            first = first.replace(secret, "***")
        if "404" in first or isinstance(exc, (FileNotFoundError, obx.NotFoundError)):
            message = f"cannot {what}: {where}: the bucket does not exist or is not reachable"
            return InvalidInput(message) if named else StorageUnavailable(message)
        return StorageUnavailable(f"cannot {what} in {where}: {first}")
    return exc


def _secrets(store: Any) -> list[str]:
    config = getattr(store, "config", None) or {}
    found = [str(config[k]) for k in ("secret_access_key", "session_token") if config.get(k)]
    found += [
        os.environ[k] for k in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") if os.environ.get(k)
    ]
    return found
