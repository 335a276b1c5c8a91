"""What text an id (of a user, contact, company, appointment type) may hold, in code and schema.

Control characters (C0, DEL, C1; NUL above all, which PostgreSQL refuses in text) and lone
surrogates (not Unicode) are in no id; any other character is. The OpenAPI document states
the same rule as :data:`ID_PATTERN`, so a client can tell an id it may send.
"""

from __future__ import annotations

import re

#: JSON Schema ``pattern`` of an id (surrogates cannot travel in a URL or in UTF-8 anyway).
ID_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
_NOT_IN_IDS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def is_id_text(value: str) -> bool:
    """Whether ``value`` holds no character that :data:`ID_PATTERN` excludes."""
    return _NOT_IN_IDS.search(value) is None
