"""The study store port: optimization studies and their trials."""

from __future__ import annotations

import builtins
from abc import abstractmethod
from datetime import datetime
from typing import Protocol

from arbx.domain.research.study import Study, StudyStatus, Trial


class StudyStore(Protocol):
    """Studies unique on id; trials unique on (study id, number).

    Contract (tests/contract/test_study_store.py holds every adapter to it):
    - ``create`` stores a new study; an id already stored raises ``Conflict``.
    - ``get`` returns it or raises ``NotFound``; ``update`` replaces a stored study's
      fields (status, error...; same id) or raises ``NotFound``.
    - ``list`` returns studies newest first (created_at, then id, descending), at most
      ``limit``; with ``readable_by`` (a user id) only that user's and ownerless ones; with
      ``status`` only studies in that status.
    - ``heartbeat`` renews the holder's heartbeat of a ``running`` study held by ``token``
      and returns True; False (nothing changes) when the study is not running or another
      process holds it. ``NotFound`` for an unknown study.
    - ``interrupt`` marks a study ``interrupted`` (with ``error`` and ``updated_at = at``)
      only when it is still ``running`` exactly as ``seen`` was read (same holder token, same
      heartbeat, same ``updated_at``): True when it marked it, False when the study changed
      meanwhile (its holder renewed its heartbeat, finished, or another process took it).
      Two servers deciding at once mark it once. ``NotFound`` for an unknown study.
    - ``add_trial`` stores a finished trial as it is (params, metrics, returns, float bits);
      ``NotFound`` for an unknown study, ``Conflict`` for a number stored already (nothing
      changes). ``trials`` returns a study's trials by number (``NotFound`` when unknown).
    - ``set_trial_run`` records the run a trial was promoted to (``NotFound`` when unknown).
    - ``delete`` removes a study and its trials (``NotFound`` when unknown).
    """

    @abstractmethod
    async def create(self, study: Study) -> None: ...

    @abstractmethod
    async def get(self, study_id: str) -> Study: ...

    @abstractmethod
    async def update(self, study: Study) -> None: ...

    @abstractmethod
    async def list(
        self,
        *,
        limit: int = 100,
        readable_by: str | None = None,
        status: StudyStatus | None = None,
    ) -> list[Study]: ...

    @abstractmethod
    async def heartbeat(self, study_id: str, token: str, at: datetime) -> bool: ...

    @abstractmethod
    async def interrupt(self, seen: Study, at: datetime, error: str) -> bool: ...

    @abstractmethod
    async def add_trial(self, trial: Trial) -> None: ...

    @abstractmethod
    async def trials(self, study_id: str) -> builtins.list[Trial]: ...

    @abstractmethod
    async def set_trial_run(self, study_id: str, number: int, run_id: str) -> None: ...

    @abstractmethod
    async def delete(self, study_id: str) -> None: ...
