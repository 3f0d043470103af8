"""JSON-lines logs carrying the trace, span and request ids of the work that wrote them."""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

from opentelemetry import trace

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "arbx_request_id", default=None
)
"""The id of the HTTP request being served (set by the HTTP telemetry middleware)."""

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC, ISO 8601 ms), level, logger, message; trace_id and
    span_id when a span is active; request_id inside a request; exc when there is one; and
    the ``extra=`` fields given to the call."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        return json.dumps(entry, default=str, ensure_ascii=False)
