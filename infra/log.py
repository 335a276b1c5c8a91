"""structlog set-up: JSON or console output, secrets redacted, a trace id bound per unit of work."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

#: Keys whose values never reach a log line, whatever their nesting.
SECRET_KEY_PATTERN = re.compile(
    r"(token|secret|password|passwd|authorization|api[_-]?key|client[_-]?state|credential"
    r"|signature|cookie|refresh|access[_-]?code|code[_-]?verifier)",
    re.IGNORECASE,
)
#: Secrets that hide inside free text (an exception message quoting a header, say).
SECRET_TEXT_PATTERNS = (
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)\b((?:refresh_|access_)?token|client_secret|clientState)=([^&\s\"']+)"),
)
REDACTED = "[redacted]"


def redact_value(key: str, value: Any) -> Any:
    if SECRET_KEY_PATTERN.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, item) for item in value]
    return value


def redact_text(text: str) -> str:
    for pattern in SECRET_TEXT_PATTERNS:
        text = pattern.sub(
            lambda m: (
                f"{m.group(1)}={REDACTED}" if "=" in m.group(0) else f"{m.group(1)} {REDACTED}"
            ),
            text,
        )
    return text


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: replace secret values before anything is rendered."""
    for key in list(event_dict):
        if key == "event":
            event_dict[key] = redact_text(str(event_dict[key]))
        else:
            event_dict[key] = redact_value(key, event_dict[key])
    return event_dict


def configure_logging(
    log_format: str = "json", level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Route structlog and the standard library's logging through one redacting pipeline."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if log_format == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party clients log request URLs with tokens in them at DEBUG; keep them quieter.
    # werkzeug duplicates the access line that ingest logs itself, with trace id.
    for noisy in (
        "googleapiclient.discovery_cache",
        "httpx",
        "urllib3",
        "amqp",
        "kombu",
        "werkzeug",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def new_trace_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def bound_trace(trace_id: str | None = None, **context: Any) -> Iterator[str]:
    """Bind a trace id (and any context) to every log line inside the block."""
    trace = trace_id or new_trace_id()
    tokens = structlog.contextvars.bind_contextvars(trace_id=trace, **context)
    try:
        yield trace
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
