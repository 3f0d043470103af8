"""The in-process scheduler: APScheduler 3 on the serving process's event loop."""

from arbx.adapters.scheduling.runner import ApschedulerJobRunner, JobExecutor
from arbx.adapters.scheduling.triggers import trigger_for

__all__ = ["ApschedulerJobRunner", "JobExecutor", "trigger_for"]
