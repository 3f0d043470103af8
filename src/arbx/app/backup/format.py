"""The backup format: a manifest, and one file per table (JSON lines) or per bar-series year
(Parquet), each with its SHA-256.

``manifest.json``::

    {"format": "arbx-backup", "format_version": 1, "arbx_version": "0.1.0",
     "created_at": "...", "profile": "local",
     "sections": {"bars": {"records": 2880, "files": 2}, ...},
     "files": {"bars/kraken/BTC-USDC/1m/2024.parquet":
               {"sha256": "...", "bytes": 51234, "records": 1440}, ...}}

Record files are JSON lines (``.jsonl``, one msgspec-encoded domain record a line) or JSON
(``.json``, one record); frames are Parquet (``.parquet``, the canonical schema, float bits
kept). ``records`` is what the file decodes to, so ``verify`` checks counts as well as bytes.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

import msgspec
import polars as pl

from arbx.domain.errors import InvalidInput

FORMAT = "arbx-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
T = TypeVar("T")


class FileEntry(msgspec.Struct, frozen=True):
    sha256: str
    bytes: int
    records: int


class SectionEntry(msgspec.Struct, frozen=True):
    records: int
    files: int


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    arbx_version: str
    created_at: datetime
    profile: str
    sections: dict[str, SectionEntry]
    files: dict[str, FileEntry]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_lines(records: Sequence[object]) -> bytes:
    encoder = msgspec.json.Encoder()
    return b"".join(encoder.encode(r) + b"\n" for r in records)


def decode_lines(data: bytes, kind: type[T], name: str) -> list[T]:
    decoder = msgspec.json.Decoder(kind)
    try:
        return [decoder.decode(line) for line in data.splitlines() if line.strip()]
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInput(f"backup file {name} does not decode: {exc}") from exc


def encode_frame(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_parquet(out, compression="zstd", compression_level=1, statistics=False)
    return out.getvalue()


def decode_frame(data: bytes, name: str) -> pl.DataFrame:
    try:
        return pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several kinds for a bad file
        raise InvalidInput(f"backup file {name} is not a readable Parquet file: {exc}") from exc


def count_records(name: str, data: bytes) -> int:
    """How many records a file holds, by its kind (see the module docstring)."""
    if name.endswith(".jsonl"):
        return sum(1 for line in data.splitlines() if line.strip())
    if name.endswith(".parquet"):
        return decode_frame(data, name).height
    if name.endswith(".json"):
        return 1
    raise InvalidInput(f"backup file {name} is of no kind arbx writes (.jsonl, .json, .parquet)")


def decode_manifest(data: bytes) -> Manifest:
    try:
        head = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"{MANIFEST} is not JSON: {exc}") from exc
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise InvalidInput(f"{MANIFEST} is not an arbx backup manifest")
    version = head.get("format_version")
    if version != FORMAT_VERSION:
        raise InvalidInput(
            f"backup format version {version} is not supported by this arbx (it reads version"
            f" {FORMAT_VERSION}); restore it with the arbx version that wrote it"
            f" ({head.get('arbx_version')})"
        )
    try:
        return msgspec.json.decode(data, type=Manifest)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"{MANIFEST} is malformed: {exc}") from exc
