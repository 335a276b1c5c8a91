"""Typed settings, read once from ``CALSYNC_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Where the single-machine defaults keep their files (SQLite store, embedded broker, secrets).
DEFAULT_VAR_DIR = Path("var")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a Calsync process. Build with :meth:`from_env`."""

    database_url: str
    broker_url: str
    listen_host: str
    listen_port: int
    public_url: str
    secret_key: str = field(repr=False)
    crm_signing_secret: str = field(repr=False)
    google_api_url: str = "https://www.googleapis.com/"
    google_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
    #: Where the browser connect sends the user to consent (Google's, or the sandbox's).
    google_auth_url: str = "https://accounts.google.com/o/oauth2/auth"
    graph_api_url: str = "https://graph.microsoft.com/v1.0"
    microsoft_token_url: str = "https://login.microsoftonline.com/common/oauth2/v2.0/token"  # noqa: S105 - a URL
    google_client_id: str | None = None
    google_client_secret: str | None = field(default=None, repr=False)
    microsoft_client_id: str | None = None
    microsoft_client_secret: str | None = field(default=None, repr=False)
    log_format: str = "json"
    log_level: str = "INFO"
    production: bool = False
    var_dir: Path = DEFAULT_VAR_DIR
    #: Seconds a sync worker holds a connection's lease without renewing it (every page
    #: renews it); a crashed worker's connection is taken over once it runs out.
    sync_lease_seconds: float = 60.0
    #: Where ``calsync worker`` and ``calsync scheduler`` serve ``/metrics`` (host, port);
    #: None: they serve none (the HTTP service always has its own ``/metrics``).
    metrics_listen: tuple[str, int] | None = None
    #: gunicorn worker processes of ``calsync serve``; None: two per core. A container sees
    #: its node's cores, not its CPU limit, so containers set it (``CALSYNC_HTTP_WORKERS``).
    http_workers: int | None = None
    #: Tokens that open the on-call console (``/console``); empty: the console is off.
    console_tokens: tuple[str, ...] = field(default=(), repr=False)

    @property
    def uses_embedded_broker(self) -> bool:
        return self.broker_url.startswith(("sqla+", "memory://"))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, isatty: bool = False
    ) -> Settings:
        """Read the settings from ``environ`` (default: ``os.environ``).

        Raises:
            SettingsError: a value is malformed, or a secret is missing in production mode.
        """
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("CALSYNC_VAR_DIR", str(DEFAULT_VAR_DIR)))
        production = _flag(env, "CALSYNC_PRODUCTION")
        host, port = _listen(env.get("CALSYNC_LISTEN", "127.0.0.1:8080"))
        log_format = env.get("CALSYNC_LOG_FORMAT", "console" if isatty else "json")
        if log_format not in {"json", "console"}:
            raise SettingsError("CALSYNC_LOG_FORMAT must be 'json' or 'console'")
        return cls(
            database_url=env.get("CALSYNC_DATABASE_URL", f"sqlite:///{var_dir}/calsync.sqlite3"),
            broker_url=env.get("CALSYNC_BROKER_URL", f"sqla+sqlite:///{var_dir}/broker.sqlite3"),
            listen_host=host,
            listen_port=port,
            public_url=env.get("CALSYNC_PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
            secret_key=_secret(env, "CALSYNC_SECRET_KEY", var_dir, production),
            crm_signing_secret=_secret(env, "CALSYNC_CRM_SIGNING_SECRET", var_dir, production),
            google_api_url=env.get("CALSYNC_GOOGLE_API_URL", cls.google_api_url),
            google_token_url=env.get("CALSYNC_GOOGLE_TOKEN_URL", cls.google_token_url),
            google_auth_url=env.get("CALSYNC_GOOGLE_AUTH_URL", cls.google_auth_url),
            graph_api_url=env.get("CALSYNC_GRAPH_API_URL", cls.graph_api_url).rstrip("/"),
            microsoft_token_url=env.get("CALSYNC_MICROSOFT_TOKEN_URL", cls.microsoft_token_url),
            google_client_id=env.get("CALSYNC_GOOGLE_CLIENT_ID"),
            google_client_secret=env.get("CALSYNC_GOOGLE_CLIENT_SECRET"),
            microsoft_client_id=env.get("CALSYNC_MICROSOFT_CLIENT_ID"),
            microsoft_client_secret=env.get("CALSYNC_MICROSOFT_CLIENT_SECRET"),
            log_format=log_format,
            log_level=env.get("CALSYNC_LOG_LEVEL", "INFO").upper(),
            production=production,
            var_dir=var_dir,
            sync_lease_seconds=_seconds(env, "CALSYNC_SYNC_LEASE_SECONDS", cls.sync_lease_seconds),
            metrics_listen=(
                _listen(env["CALSYNC_METRICS_LISTEN"], "CALSYNC_METRICS_LISTEN")
                if env.get("CALSYNC_METRICS_LISTEN")
                else None
            ),
            http_workers=_count(env, "CALSYNC_HTTP_WORKERS"),
            console_tokens=_tokens(env, "CALSYNC_CONSOLE_TOKEN"),
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _count(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and 0 < int(value) <= 256):
        raise SettingsError(f"{name} must be a whole number from 1 to 256, got {value!r}")
    return int(value)


#: Shortest console token taken: it opens replay and purge of every account's dead letters.
MIN_CONSOLE_TOKEN = 16


def _tokens(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated operator tokens (one per person, so one can be revoked alone)."""
    tokens = tuple(t.strip() for t in env.get(name, "").split(",") if t.strip())
    if any(len(t) < MIN_CONSOLE_TOKEN for t in tokens):
        raise SettingsError(f"{name}: every token must be {MIN_CONSOLE_TOKEN} characters or more")
    return tokens


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if value is None or not value.strip():
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise SettingsError(f"{name} must be a positive number of seconds, got {value!r}")
    return seconds


def _listen(value: str, name: str = "CALSYNC_LISTEN") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"{name} must be host:port, got {value!r}")
    return host, int(port)


def _secret(env: Mapping[str, str], name: str, var_dir: Path, production: bool) -> str:
    """Return the secret from the environment, or one generated once into ``var_dir``.

    A generated secret is fine on one machine, but in production every process of a
    cluster must share the same key, so production mode insists on the variable.
    """
    value = env.get(name)
    if value:
        return value
    if production:
        raise SettingsError(f"{name} must be set in production mode")
    path = var_dir / name.lower().removeprefix("calsync_")
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    generated = secrets.token_urlsafe(32)
    # O_EXCL: when two processes start at once, exactly one key wins and both read it.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(generated)
    return generated
