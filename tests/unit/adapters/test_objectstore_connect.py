"""Object-storage errors in arbx's words: refusals name the bucket, the endpoint and the S3
code, never a secret; other failures are StorageUnavailable with secrets scrubbed."""

from __future__ import annotations

import polars as pl
import pytest

from arbx.adapters.objectstore.connect import (
    S3Options,
    refusal,
    s3_store,
    scan_options,
    split_url,
    translate,
)
from arbx.domain.errors import InvalidInput, StorageUnavailable
from arbx.entrypoints.settings import S3Settings

SECRET = "s3cr3t-value-that-must-never-show"
OPTIONS = S3Options(
    endpoint="http://127.0.0.1:9000",
    region="eu-west-1",
    access_key_id="AKIAEXAMPLE",
    secret_access_key=SECRET,
    allow_http=True,
)


def test_refusals_are_told_by_their_s3_code() -> None:
    body = "403 Forbidden: <Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>"
    assert refusal(OSError(body)) == (
        "SignatureDoesNotMatch: the secret access key does not match the access key id"
    )
    assert refusal(OSError("<Code>NoSuchKey</Code> 404")) is None
    assert refusal(OSError("Server returned 403 Forbidden")) == (
        "403 Forbidden: the credentials were refused"
    )


def test_a_refusal_names_where_and_is_the_request_s_problem_when_named() -> None:
    store = s3_store("desk-bars", OPTIONS)
    exc = OSError("403 Forbidden <Code>InvalidAccessKeyId</Code>")
    named = translate(exc, "write x.csv", store, named=True)
    configured = translate(exc, "write x.csv", store)
    assert isinstance(named, InvalidInput)
    assert isinstance(configured, StorageUnavailable)
    assert "s3://desk-bars at http://127.0.0.1:9000 refused the credentials" in str(named)
    assert SECRET not in str(named)


def test_other_failures_are_storage_unavailable_without_secrets() -> None:
    store = s3_store("desk-bars", OPTIONS)
    leaked = translate(OSError(f"connect failed for {SECRET}\nmore"), "read", store)
    assert isinstance(leaked, StorageUnavailable)
    assert SECRET not in str(leaked)
    scan = translate(pl.exceptions.ComputeError("parquet: bad footer"), "read", store)
    assert isinstance(scan, StorageUnavailable)
    assert "bad footer" in str(scan)
    bug = TypeError("a bug stays a bug")
    assert translate(bug, "read", store) is bug


def test_polars_reaches_the_same_bucket_and_secrets_stay_out_of_reprs() -> None:
    options = scan_options(s3_store("desk-bars", OPTIONS))
    assert options == {
        "aws_region": "eu-west-1",
        "aws_access_key_id": "AKIAEXAMPLE",
        "aws_secret_access_key": SECRET,
        "aws_endpoint_url": "http://127.0.0.1:9000",
        "aws_allow_http": "true",
    }
    assert SECRET not in repr(OPTIONS)
    assert SECRET not in repr(S3Settings(secret_access_key=SECRET))


def test_urls_without_a_bucket_are_refused() -> None:
    assert split_url("s3://bucket/a/b.csv") == ("bucket", "a/b.csv")
    with pytest.raises(InvalidInput, match="names no bucket"):
        split_url("s3:///x.csv")
