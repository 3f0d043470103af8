"""Walk-forward folds over ``n`` bars (index ranges, half-open).

Rolling: train windows of ``train`` bars slide by ``step`` (default ``test``); anchored:
every train window starts at bar 0 and grows by ``step``. ``purge`` drops the last bars of
each train window (decisions whose outcome reaches into the test fold); ``embargo`` skips
bars between the train window and its test fold. Fold k:

    train = [s_k, s_k + L_k - purge)      test = [s_k + L_k + embargo, ... + test)

with ``L_k = train`` (rolling, ``s_k = k * step``) or ``L_k = train + k * step``
(anchored, ``s_k = 0``). Folds whose test window would pass ``n`` are not made; when not
even one fits, ``InvalidInput`` says how many bars are needed.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from arbx.domain.errors import InvalidInput

FoldMode = Literal["rolling", "anchored"]


class Fold(msgspec.Struct, frozen=True):
    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


def walk_forward_folds(
    n: int,
    *,
    train: int,
    test: int,
    step: int | None = None,
    mode: FoldMode = "rolling",
    purge: int = 0,
    embargo: int = 0,
) -> list[Fold]:
    for name, value, low in (("train", train, 1), ("test", test, 1), ("purge", purge, 0)):
        if value < low:
            raise InvalidInput(f"{name} must be >= {low} bars, got {value}", field=name)
    if embargo < 0:
        raise InvalidInput(f"embargo must be >= 0 bars, got {embargo}", field="embargo")
    if mode not in ("rolling", "anchored"):
        raise InvalidInput(f"mode must be rolling or anchored, got {mode!r}", field="mode")
    step = test if step is None else step
    if step < 1:
        raise InvalidInput(f"step must be >= 1 bar, got {step}", field="step")
    if purge >= train:
        raise InvalidInput(
            f"purge ({purge}) must be shorter than the train window ({train})", field="purge"
        )
    folds: list[Fold] = []
    k = 0
    while True:
        start, length = (k * step, train) if mode == "rolling" else (0, train + k * step)
        test_start = start + length + embargo
        test_end = test_start + test
        if test_end > n:
            break
        folds.append(Fold(k, start, start + length - purge, test_start, test_end))
        k += 1
    if not folds:
        need = train + embargo + test
        raise InvalidInput(
            f"no walk-forward fold fits {n:,} bars: one fold needs {need:,} (train {train:,}"
            f" + embargo {embargo:,} + test {test:,}); shorten the windows or widen the span",
            field="folds",
        )
    return folds
