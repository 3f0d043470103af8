"""TradeFileReader on local files: plain, gzip (``.gz``) or zip (one member, or the one named)."""

from __future__ import annotations

import gzip
import zipfile
import zlib
from pathlib import Path

from arbx.domain.errors import InvalidInput
from arbx.ports.trade_files import TradeFileData, TradeFileReader


class LocalTradeFiles(TradeFileReader):
    def read(self, path: Path, member: str | None = None) -> TradeFileData:
        if not path.is_file():
            what = "a folder" if path.is_dir() else "not found"
            raise InvalidInput(f"trade file {path}: {what}", field="path")
        try:
            if zipfile.is_zipfile(path):
                return _zip_member(path, member)
            if member is not None:
                raise InvalidInput(
                    f"--member {member!r} is only for zip files; {path.name} is not one",
                    field="member",
                )
            raw = path.read_bytes()
            if raw[:2] == b"\x1f\x8b":
                name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
                return TradeFileData(name, gzip.decompress(raw))
            return TradeFileData(path.name, raw)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile) as exc:
            raise InvalidInput(f"cannot read trade file {path}: {exc}", field="path") from exc


def _zip_member(path: Path, member: str | None) -> TradeFileData:
    with zipfile.ZipFile(path) as archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        if member is None:
            if len(names) != 1:
                shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
                raise InvalidInput(
                    f"{path.name} holds {len(names)} files ({shown}); name one with --member",
                    field="member",
                )
            member = names[0]
        elif member not in names:
            close = [n for n in names if Path(n).name == member]
            if len(close) != 1:
                raise InvalidInput(
                    f"{path.name} holds no file {member!r}; it holds {', '.join(names[:10])}",
                    field="member",
                )
            member = close[0]
        return TradeFileData(Path(member).name, archive.read(member))
