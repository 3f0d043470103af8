"""TableFiles at a path on disk or at an ``s3://BUCKET/KEY`` URL.

An object is read whole into a temporary file named like it, then parsed by the local reader
(the same formats, rules and messages as a file). A write is encoded into a temporary file by
the local writer, then put with ONE PUT, which S3 makes atomic: readers see the old object or
the new one, never a part. Credentials come from ``store_for(bucket)`` (see ``connect``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import obstore
import polars as pl
from obstore import exceptions as obx

from arbx.adapters.objectstore.connect import split_url, translate
from arbx.domain.errors import InvalidInput
from arbx.ports.table_files import Location, TableFiles


def is_url(location: Location) -> bool:
    return isinstance(location, str) and location.startswith("s3://")


class LocationTableFiles(TableFiles):
    def __init__(self, local: TableFiles, store_for: Callable[[str], Any]) -> None:
        self._local = local
        self._store_for = store_for

    def _object(self, url: str) -> tuple[Any, str, str]:
        bucket, key = split_url(url)
        if not key or key.endswith("/"):
            raise InvalidInput(f"{url} names no object; write s3://BUCKET/PATH/FILE", field="path")
        return self._store_for(bucket), key, key.rsplit("/", 1)[-1]

    def read(self, path: Location, *, skip_rows: int = 0, has_header: bool = True) -> pl.DataFrame:
        if not is_url(path):
            return self._local.read(Path(path), skip_rows=skip_rows, has_header=has_header)
        url = str(path)
        store, key, name = self._object(url)
        try:
            data = bytes(obstore.get(store, key).bytes())
        except (FileNotFoundError, obx.NotFoundError):
            raise InvalidInput(f"{url} does not exist", field="path") from None
        except Exception as exc:
            raise translate(exc, f"read {url}", store, named=True) from exc
        with tempfile.TemporaryDirectory(prefix="arbx-object-") as folder:
            local = Path(folder) / name
            local.write_bytes(data)
            return self._local.read(local, skip_rows=skip_rows, has_header=has_header)

    def write(self, frame: pl.DataFrame, path: Location) -> None:
        if not is_url(path):
            self._local.write(frame, Path(path))
            return
        url = str(path)
        store, key, name = self._object(url)
        with tempfile.TemporaryDirectory(prefix="arbx-object-") as folder:
            local = Path(folder) / name
            self._local.write(frame, local)  # the format from the suffix, as for a file
            try:
                obstore.put(store, key, local.read_bytes())
            except Exception as exc:
                raise translate(exc, f"write {url}", store, named=True) from exc
