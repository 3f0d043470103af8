"""The sections of a backup: everything the profile's stores keep, in restore order.

To back up a new store, add ONE line here: ``RecordSection(NAME, RECORD_TYPE, LOAD, SAVE)``
when its port lists every record and adds one (e.g. a study store:
``RecordSection("studies", Study, stores.studies.list, stores.studies.save)``), or a
``BackupSection`` of its own (see ``arbx.app.backup.sections``) when it keeps tables or blobs.
A section's name is its folder in the backup; a backup with a section this list lacks is
refused by restore, so older arbx versions never half-restore a newer backup.

Not backed up, on purpose: refresh tokens (sign-in sessions; users sign in again after a
restore) and the read cache.
"""

from __future__ import annotations

from arbx.app.backup.sections import (
    BackupSection,
    BarsSection,
    QualitySection,
    RecordSection,
    RunsSection,
    job_sections,
    load_audit,
    load_users,
    run_failure_section,
)
from arbx.domain.auth import ApiKey, AuditEntry, UserCredentials
from arbx.entrypoints.profiles import Stores


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
    ]
