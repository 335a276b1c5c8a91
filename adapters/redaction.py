"""Keeping secrets out of text that leaves the process: log lines, dead-letter headers.

Shared by the log pipeline (``infra/log.py``) and the workers, which may not import infra.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"
#: Names whose values are secrets, wherever they appear (log fields, ``key=value`` text).
_SENSITIVE_NAMES = (
    r"(?:access_token|refresh_token|id_token|token|client_secret|secret|password|passwd"
    r"|api[_-]?key|authorization|client_?state|code_verifier|signature)"
)
#: Field names that are redacted whole, at any depth of a structured log line.
SECRET_KEY_PATTERN = re.compile(
    r"(token|secret|password|passwd|authorization|api[_-]?key|client[_-]?state|credential"
    r"|signature|cookie|refresh|access[_-]?code|code[_-]?verifier)",
    re.IGNORECASE,
)
#: Secrets that hide in free text: bearer tokens, ``key=value`` or ``"key": "value"`` pairs,
#: and passwords in URLs (a broker or database URL quoted by a connection error).
_SECRET_PATTERNS = (
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{REDACTED}"),
    (
        re.compile(rf"(?i)(\b{_SENSITIVE_NAMES}\b['\"]?\s*[:=]\s*['\"]?)[^'\"\s,&;}}]+"),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(://[^/:@\s]+:)[^@/\s]+@"), rf"\1{REDACTED}@"),
)


def redact_text(text: str) -> str:
    """``text`` with every secret it visibly carries replaced by ``[redacted]``."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(key: str, value: Any) -> Any:
    """A structured value with secret fields (by name) and secrets in text redacted."""
    if SECRET_KEY_PATTERN.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, item) for item in value]
    return value
