"""Google Meet conferences: a ``createRequest`` is answered ``pending`` and completes later."""

from __future__ import annotations

import copy
import secrets
import string
from typing import Any

#: What Google reports as the Meet conference solution.
MEET_SOLUTION = {
    "key": {"type": "hangoutsMeet"},
    "name": "Google Meet",
    "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/"
    "logo_meet_2020q4_color_2x_web_512dp.png",
}


def prepare(
    resource: dict[str, Any], previous: dict[str, Any] | None, conference_version: int
) -> str | None:
    """Apply ``conferenceData`` rules to a new or changed event.

    With ``conferenceDataVersion=0`` the body's ``conferenceData`` is ignored and the stored
    one kept. A new ``createRequest`` (one whose ``requestId`` was not seen) is marked
    ``pending``; its ``requestId`` is returned so the caller can schedule completion.
    """
    stored = (previous or {}).get("conferenceData")
    if conference_version < 1:
        _restore(resource, stored)
        return None
    request = (resource.get("conferenceData") or {}).get("createRequest")
    if request is None:
        return None
    if _same_request(stored, request):
        resource["conferenceData"] = copy.deepcopy(stored)
        return None
    request_id = request.get("requestId")
    solution = (request.get("conferenceSolutionKey") or {}).get("type")
    if solution != "hangoutsMeet" or not request_id:
        request["status"] = {"statusCode": "failure"}
        return None
    request["status"] = {"statusCode": "pending"}
    return str(request_id)


def _restore(resource: dict[str, Any], stored: dict[str, Any] | None) -> None:
    if stored is None:
        resource.pop("conferenceData", None)
    else:
        resource["conferenceData"] = copy.deepcopy(stored)


def _same_request(stored: dict[str, Any] | None, request: dict[str, Any]) -> bool:
    # A reused requestId is ignored, as Google does.
    old = (stored or {}).get("createRequest") or {}
    return bool(old) and old.get("requestId") == request.get("requestId")


def complete(resource: dict[str, Any], request_id: str) -> bool:
    """Turn a pending request into a Meet conference; False if the request is gone or done."""
    data = resource.get("conferenceData") or {}
    request = data.get("createRequest") or {}
    if request.get("requestId") != request_id or request["status"]["statusCode"] != "pending":
        return False
    code = meeting_code()
    request["status"] = {"statusCode": "success"}
    data.update(
        conferenceId=code,
        conferenceSolution=copy.deepcopy(MEET_SOLUTION),
        entryPoints=[
            {
                "entryPointType": "video",
                "uri": f"https://meet.google.com/{code}",
                "label": f"meet.google.com/{code}",
            },
            {"entryPointType": "more", "uri": f"https://tel.meet/{code}?pin=1"},
        ],
    )
    resource["hangoutLink"] = f"https://meet.google.com/{code}"
    return True


def meeting_code() -> str:
    """A Meet code such as ``abc-defg-hij``."""
    letters = string.ascii_lowercase
    return "-".join("".join(secrets.choice(letters) for _ in range(n)) for n in (3, 4, 3))
