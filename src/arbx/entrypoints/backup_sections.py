"""The sections of a backup: everything the profile's stores keep, in restore order.

To back up a new store, add ONE line here: ``RecordSection(NAME, RECORD_TYPE, LOAD, SAVE)``
when its port lists every record and adds one (e.g. a study store:
``RecordSection("studies", Study, stores.studies.list, stores.studies.save)``), or a
``BackupSection`` of its own (see ``arbx.app.backup.sections``) when it keeps tables or blobs.
A section's name is its folder in the backup; a backup with a section this list lacks is
refused by restore, so older arbx versions never half-restore a newer backup.

Optimization studies (with their trials), walk-forwards (with their folds), alert rules and
history, and the strategy catalog (each definition with its versions and state history,
replayed through the port) are sections too, as are the recorded trades, quotes and L2 book
updates (``MarketFramesSection``: Parquet per venue, pair and year) and the live spread
monitor's closed opportunities.
Not backed up, on purpose: refresh tokens (sign-in sessions; users sign in again after a
restore) and the read cache.
"""

from __future__ import annotations

import msgspec

from arbx.app.backup.sections import (
    BackupSection,
    BarsSection,
    MarketFramesSection,
    QualitySection,
    RecordSection,
    RunsSection,
    catalog_section,
    job_sections,
    load_audit,
    load_users,
    run_failure_section,
)
from arbx.domain.alerts.rules import AlertRule, AlertTransition
from arbx.domain.auth import ApiKey, AuditEntry, UserCredentials
from arbx.domain.research.study import Study, Trial
from arbx.domain.research.walk_forward import WalkForwardFold, WalkForwardStudy
from arbx.domain.streams.spreads import SpreadOpportunity
from arbx.entrypoints.profiles import Stores
from arbx.ports.alert_store import AlertStore
from arbx.ports.spread_store import SpreadStore
from arbx.ports.study_store import StudyStore
from arbx.ports.walk_forward_store import WalkForwardStore

_ALL = 1_000_000_000  # "every record" for the ports that page


class StudyRecord(msgspec.Struct, frozen=True):
    """One optimization study with its trials (restored together, the study first)."""

    study: Study
    trials: list[Trial]


async def _load_studies(studies: StudyStore) -> list[StudyRecord]:
    found = sorted(await studies.list(limit=_ALL), key=lambda s: (s.created_at, s.id))
    return [
        StudyRecord(s, sorted(await studies.trials(s.id), key=lambda t: t.number)) for s in found
    ]


async def _save_study(studies: StudyStore, record: StudyRecord) -> None:
    await studies.create(record.study)
    for trial in record.trials:
        await studies.add_trial(trial)


class WalkForwardRecord(msgspec.Struct, frozen=True):
    """One walk-forward with its finished folds (restored together, the walk-forward first)."""

    walk_forward: WalkForwardStudy
    folds: list[WalkForwardFold]


async def _load_walk_forwards(wfs: WalkForwardStore) -> list[WalkForwardRecord]:
    found = sorted(await wfs.list(limit=_ALL), key=lambda w: (w.created_at, w.id))
    return [WalkForwardRecord(w, await wfs.folds(w.id)) for w in found]


async def _save_walk_forward(wfs: WalkForwardStore, record: WalkForwardRecord) -> None:
    await wfs.create(record.walk_forward)
    for fold in record.folds:
        await wfs.add_fold(fold)


async def _load_rules(alerts: AlertStore) -> list[AlertRule]:
    return sorted(await alerts.list_rules(), key=lambda r: (r.created_at, r.id))


async def _load_transitions(alerts: AlertStore) -> list[AlertTransition]:
    return sorted(await alerts.history(limit=_ALL), key=lambda t: (t.at, t.id))


async def _load_spreads(spreads: SpreadStore) -> list[SpreadOpportunity]:
    return sorted(await spreads.history(limit=_ALL), key=lambda o: (o.start_us, o.id))


async def _save_spread(spreads: SpreadStore, opportunity: SpreadOpportunity) -> None:
    await spreads.record([opportunity])


def backup_sections(stores: Stores) -> list[BackupSection]:
    users, keys, audit = stores.users, stores.api_keys, stores.audit
    return [
        RecordSection(
            "users",
            UserCredentials,
            lambda: load_users(users),
            lambda c: users.add(c.user, c.password_hash),
        ),
        RecordSection("api_keys", ApiKey, keys.list, keys.add),
        RecordSection(
            "audit", AuditEntry, lambda: load_audit(audit), lambda e: audit.append(e.event)
        ),
        *job_sections(stores.jobs),
        BarsSection(stores.bars),
        QualitySection(stores.quality),
        RunsSection(stores.runs),
        run_failure_section(stores.runs),
        RecordSection(
            "studies",
            StudyRecord,
            lambda: _load_studies(stores.studies),
            lambda r: _save_study(stores.studies, r),
        ),
        RecordSection(
            "walk_forwards",
            WalkForwardRecord,
            lambda: _load_walk_forwards(stores.walk_forwards),
            lambda r: _save_walk_forward(stores.walk_forwards, r),
        ),
        RecordSection(
            "alert_rules", AlertRule, lambda: _load_rules(stores.alerts), stores.alerts.save_rule
        ),
        RecordSection(
            "alert_history",
            AlertTransition,
            lambda: _load_transitions(stores.alerts),
            stores.alerts.record,
        ),
        catalog_section(stores.catalog),
        MarketFramesSection("trades", stores.trades.keys, stores.trades.read, stores.trades.write),
        MarketFramesSection(
            "quotes", stores.books.quote_keys, stores.books.read_quotes, stores.books.write_quotes
        ),
        MarketFramesSection(
            "books", stores.books.book_keys, stores.books.read_book, stores.books.write_book
        ),
        RecordSection(
            "spreads",
            SpreadOpportunity,
            lambda: _load_spreads(stores.spreads),
            lambda o: _save_spread(stores.spreads, o),
        ),
    ]
