"""Pytest plugin for the object-storage adapter: a moto S3 server on loopback (one per test
run, started by the test) and a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from arbx.adapters.objectstore.bar_store import ObjectStoreBarStore

CREDENTIALS = {"access_key_id": "arbx-test", "secret_access_key": "arbx-test-secret"}
REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_store(endpoint: str, bucket: str, **overrides: Any) -> Any:
    from obstore.store import S3Store

    options = {**CREDENTIALS, **overrides}
    return S3Store(
        bucket, endpoint=endpoint, region=REGION, client_options={"allow_http": True}, **options
    )


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    import boto3

    name = f"arbx-{uuid.uuid4().hex[:16]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["access_key_id"],
        aws_secret_access_key=CREDENTIALS["secret_access_key"],
    ).create_bucket(Bucket=name)
    return name


@pytest.fixture
def objectstore_bar_store(s3_endpoint: str, s3_bucket: str) -> ObjectStoreBarStore:
    return ObjectStoreBarStore(s3_store(s3_endpoint, s3_bucket), prefix="team/arbx")


@dataclass(frozen=True)
class IamUser:
    access_key_id: str
    secret_access_key: str


@pytest.fixture
def s3_checked_credentials(s3_endpoint: str, s3_bucket: str) -> Iterator[IamUser]:
    """moto checking every request's signature against its IAM users, for this test only:
    yields the one user allowed to use the bucket (any other key or secret is refused)."""
    import json

    import boto3
    from moto.core.authorization import enable_iam_authentication

    iam = boto3.client(
        "iam",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["access_key_id"],
        aws_secret_access_key=CREDENTIALS["secret_access_key"],
    )
    name = f"arbx-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    with enable_iam_authentication():
        yield IamUser(key["AccessKeyId"], key["SecretAccessKey"])
