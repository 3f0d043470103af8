"""Backups of everything arbx keeps: the format, the sections, the use cases."""

from arbx.app.backup.sections import BackupSection, RecordSection
from arbx.app.backup.use_cases import CreateBackup, RestoreBackup, VerifyBackup

__all__ = ["BackupSection", "CreateBackup", "RecordSection", "RestoreBackup", "VerifyBackup"]
