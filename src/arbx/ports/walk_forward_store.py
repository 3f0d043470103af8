"""The walk-forward store port: walk-forward analyses and their finished folds."""

from __future__ import annotations

import builtins
from abc import abstractmethod
from datetime import datetime
from typing import Protocol

from arbx.domain.research.walk_forward import WalkForwardFold, WalkForwardStatus, WalkForwardStudy


class WalkForwardStore(Protocol):
    """Walk-forwards unique on id; folds unique on (walk-forward id, fold index).

    Contract (tests/contract/test_walk_forward_store.py holds every adapter to it), as the
    ``StudyStore``'s:
    - ``create`` stores a new one (``Conflict`` for an id stored already); ``get`` returns it
      or raises ``NotFound``; ``update`` replaces a stored one's fields or raises ``NotFound``.
    - ``list`` newest first (created_at, then id, descending), at most ``limit``; with
      ``readable_by`` only that user's and ownerless ones; with ``status`` only those.
    - ``add_fold`` stores a finished fold as it is (floats bit for bit); ``NotFound`` for an
      unknown walk-forward, ``Conflict`` for a fold index stored already (nothing changes).
      ``folds`` returns the stored folds by index (``NotFound`` when unknown).
    - ``heartbeat`` and ``interrupt`` as ``StudyStore.heartbeat`` / ``StudyStore.interrupt``.
    - ``delete`` removes one and its folds (``NotFound`` when unknown).
    """

    @abstractmethod
    async def create(self, wf: WalkForwardStudy) -> None: ...

    @abstractmethod
    async def get(self, wf_id: str) -> WalkForwardStudy: ...

    @abstractmethod
    async def update(self, wf: WalkForwardStudy) -> None: ...

    @abstractmethod
    async def list(
        self,
        *,
        limit: int = 100,
        readable_by: str | None = None,
        status: WalkForwardStatus | None = None,
    ) -> builtins.list[WalkForwardStudy]: ...

    @abstractmethod
    async def add_fold(self, fold: WalkForwardFold) -> None: ...

    @abstractmethod
    async def folds(self, wf_id: str) -> builtins.list[WalkForwardFold]: ...

    @abstractmethod
    async def heartbeat(self, wf_id: str, token: str, at: datetime) -> bool: ...

    @abstractmethod
    async def interrupt(self, seen: WalkForwardStudy, at: datetime, error: str) -> bool: ...

    @abstractmethod
    async def delete(self, wf_id: str) -> None: ...
