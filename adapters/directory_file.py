"""The directory file of ``calsync directory load``: parsed, validated, normalised.

Structure is checked with a JSON Schema; meaning (e-mails, time zones, duplicates, one
address per user) is checked here, and every error names the record it is about.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import fastjsonschema
import jsonschema

from domain.emails import normalise_domain, normalise_email

#: Errors reported at most per load; past that the user fixes the first ones and reruns.
MAX_ERRORS = 20

_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_NAME = {"type": "string", "maxLength": 200}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["accounts"],
    "additionalProperties": False,
    "properties": {
        "accounts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "additionalProperties": False,
                "properties": {
                    "id": _ID,
                    "name": _NAME,
                    "extra_colleague_domains": {"type": "array", "items": {"type": "string"}},
                    "users": {"type": "array", "items": {"$ref": "#/$defs/user"}},
                    "companies": {"type": "array", "items": {"$ref": "#/$defs/company"}},
                    "contacts": {"type": "array", "items": {"$ref": "#/$defs/contact"}},
                },
            },
        }
    },
    "$defs": {
        "user": {
            "type": "object",
            "required": ["id", "email"],
            "additionalProperties": False,
            "properties": {
                "id": _ID,
                "name": _NAME,
                "email": {"type": "string"},
                "aliases": {"type": "array", "items": {"type": "string"}},
                "time_zone": {"type": "string"},
                "active": {"type": "boolean"},
            },
        },
        "company": {
            "type": "object",
            "required": ["id"],
            "additionalProperties": False,
            "properties": {"id": _ID, "name": _NAME},
        },
        "contact": {
            "type": "object",
            "required": ["id"],
            "additionalProperties": False,
            "properties": {
                "id": _ID,
                "name": _NAME,
                "emails": {"type": "array", "items": {"type": "string"}},
                "company_id": {"anyOf": [_ID, {"type": "null"}]},
                "active": {"type": "boolean"},
            },
        },
    },
}


class DirectoryFileError(ValueError):
    """The file cannot be loaded; ``errors`` lists every problem found, each naming its record."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{errors[0]}{more}")


@dataclass(frozen=True)
class UserEntry:
    id: str
    name: str
    email: str
    aliases: tuple[str, ...]
    time_zone: str
    active: bool

    @property
    def all_emails(self) -> tuple[str, ...]:
        return (self.email, *self.aliases)


@dataclass(frozen=True)
class CompanyEntry:
    id: str
    name: str


@dataclass(frozen=True)
class ContactEntry:
    id: str
    name: str
    emails: tuple[str, ...]
    company_id: str | None
    active: bool


@dataclass(frozen=True)
class AccountEntry:
    id: str
    name: str
    extra_colleague_domains: tuple[str, ...]
    users: tuple[UserEntry, ...]
    companies: tuple[CompanyEntry, ...]
    contacts: tuple[ContactEntry, ...]


def read_directory_file(path: Path) -> list[AccountEntry]:
    """Read and validate ``path``.

    Raises:
        DirectoryFileError: unreadable JSON, wrong structure, or invalid records.
    """
    try:
        document = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DirectoryFileError([f"{path}: not readable JSON: {exc}"]) from None
    return parse_directory(document)


def parse_directory(document: Any) -> list[AccountEntry]:
    """Validate a decoded directory document and return normalised entries."""
    structural = list(_schema_errors(document))
    if structural:
        raise DirectoryFileError(structural)
    problems: list[str] = []
    entries = [_account(raw, i, problems) for i, raw in enumerate(document["accounts"])]
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            problems.append(f"accounts: id {entry.id!r} appears twice")
        seen.add(entry.id)
    if problems:
        raise DirectoryFileError(problems[:MAX_ERRORS])
    return entries


@functools.cache
def _fast_validator() -> Callable[[Any], Any]:
    return fastjsonschema.compile(SCHEMA)


def _schema_errors(document: Any) -> Iterator[str]:
    # The compiled validator checks 100,000 contacts in a blink but stops at the first error;
    # jsonschema is slow but lists every error with its path, so it only runs on bad files.
    try:
        _fast_validator()(document)
    except fastjsonschema.JsonSchemaException:
        pass
    else:
        return
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for count, error in enumerate(validator.iter_errors(document)):
        if count >= MAX_ERRORS:
            return
        yield f"{_where(document, list(error.absolute_path))}: {error.message}"


def _where(document: Any, path: list[Any]) -> str:
    """Render a JSON path as ``accounts[0] (acme).users[3] (karl).email``."""
    parts: list[str] = []
    node = document
    for step in path:
        node = node[step] if isinstance(node, dict | list) else None
        if isinstance(step, int):
            ident = node.get("id") if isinstance(node, dict) else None
            parts[-1] += f"[{step}]" + (f" ({ident})" if isinstance(ident, str) else "")
        else:
            parts.append(str(step))
    return ".".join(parts) or "file"


def _account(raw: dict[str, Any], index: int, problems: list[str]) -> AccountEntry:
    where = f"accounts[{index}] ({raw['id']})"
    users = tuple(
        _user(u, f"{where}.users[{i}] ({u['id']})", problems)
        for i, u in enumerate(raw.get("users", []))
    )
    contacts = tuple(
        _contact(c, f"{where}.contacts[{i}] ({c['id']})", problems)
        for i, c in enumerate(raw.get("contacts", []))
    )
    companies = tuple(CompanyEntry(c["id"], c.get("name", "")) for c in raw.get("companies", []))
    _check_unique_ids(where, "users", [u.id for u in users], problems)
    _check_unique_ids(where, "companies", [c.id for c in companies], problems)
    _check_unique_ids(where, "contacts", [c.id for c in contacts], problems)
    _check_one_owner_per_address(where, users, problems)
    domains = []
    for domain in raw.get("extra_colleague_domains", []):
        normal = normalise_domain(domain)
        if normal is None:
            problems.append(f"{where}.extra_colleague_domains: {domain!r} is not a domain")
        else:
            domains.append(normal)
    return AccountEntry(
        raw["id"], raw.get("name", ""), tuple(dict.fromkeys(domains)), users, companies, contacts
    )


def _user(raw: dict[str, Any], where: str, problems: list[str]) -> UserEntry:
    email = _email(raw["email"], f"{where}.email", problems)
    aliases = [_email(a, f"{where}.aliases", problems) for a in raw.get("aliases", [])]
    time_zone = raw.get("time_zone", "UTC")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{where}.time_zone: {time_zone!r} is not an IANA time zone")
    distinct = tuple(a for a in dict.fromkeys(aliases) if a and a != email)
    return UserEntry(
        raw["id"], raw.get("name", ""), email or "", distinct, time_zone, raw.get("active", True)
    )


def _contact(raw: dict[str, Any], where: str, problems: list[str]) -> ContactEntry:
    emails = [_email(e, f"{where}.emails", problems) for e in raw.get("emails", [])]
    return ContactEntry(
        raw["id"],
        raw.get("name", ""),
        tuple(e for e in dict.fromkeys(emails) if e),
        raw.get("company_id"),
        raw.get("active", True),
    )


def _email(raw: str, where: str, problems: list[str]) -> str | None:
    normal = normalise_email(raw)
    if normal is None:
        problems.append(f"{where}: {raw!r} is not an e-mail address")
    return normal


def _check_unique_ids(where: str, kind: str, ids: list[str], problems: list[str]) -> None:
    seen: set[str] = set()
    for ident in ids:
        if ident in seen:
            problems.append(f"{where}.{kind}: id {ident!r} appears twice")
        seen.add(ident)


def _check_one_owner_per_address(
    where: str, users: Sequence[UserEntry], problems: list[str]
) -> None:
    # R2 needs every address to name at most one user, or resolution would be a coin toss.
    owner: dict[str, str] = {}
    for user in users:
        for email in user.all_emails:
            if email and owner.setdefault(email, user.id) != user.id:
                problems.append(
                    f"{where}.users ({user.id}): {email} belongs to user {owner[email]!r} too"
                )
