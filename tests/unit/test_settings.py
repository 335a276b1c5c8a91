"""Settings come from CALSYNC_* once, with single-machine defaults and strict production mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings, SettingsError


def test_defaults_are_the_embedded_single_machine_setup(tmp_path: Path) -> None:
    settings = Settings.from_env({"CALSYNC_VAR_DIR": str(tmp_path)})

    assert settings.database_url == f"sqlite:///{tmp_path}/calsync.sqlite3"
    assert settings.broker_url == f"sqla+sqlite:///{tmp_path}/broker.sqlite3"
    assert settings.uses_embedded_broker
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 8080)
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.log_format == "json"


def test_generated_secrets_are_kept_in_var_and_reused(tmp_path: Path) -> None:
    first = Settings.from_env({"CALSYNC_VAR_DIR": str(tmp_path)})
    second = Settings.from_env({"CALSYNC_VAR_DIR": str(tmp_path)})

    assert first.secret_key == second.secret_key
    assert first.crm_signing_secret == second.crm_signing_secret
    assert first.secret_key != first.crm_signing_secret
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_production_refuses_generated_secrets(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CALSYNC_SECRET_KEY must be set in production"):
        Settings.from_env({"CALSYNC_VAR_DIR": str(tmp_path), "CALSYNC_PRODUCTION": "true"})


def test_secrets_never_appear_in_repr(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "CALSYNC_VAR_DIR": str(tmp_path),
            "CALSYNC_SECRET_KEY": "s3cr3t-key",
            "CALSYNC_GOOGLE_CLIENT_SECRET": "g-secret",
            "CALSYNC_CRM_SIGNING_SECRET": "crm-secret",
        }
    )

    text = repr(settings)
    assert "s3cr3t-key" not in text
    assert "g-secret" not in text
    assert "crm-secret" not in text


@pytest.mark.parametrize("listen", ["8080", "host:", "host:0", "host:99999", ":80"])
def test_malformed_listen_address_names_the_variable(tmp_path: Path, listen: str) -> None:
    with pytest.raises(SettingsError, match="CALSYNC_LISTEN must be host:port"):
        Settings.from_env({"CALSYNC_VAR_DIR": str(tmp_path), "CALSYNC_LISTEN": listen})


def test_console_logs_on_a_terminal_and_bad_format_refused(tmp_path: Path) -> None:
    env = {"CALSYNC_VAR_DIR": str(tmp_path)}
    assert Settings.from_env(env, isatty=True).log_format == "console"
    with pytest.raises(SettingsError, match="CALSYNC_LOG_FORMAT"):
        Settings.from_env({**env, "CALSYNC_LOG_FORMAT": "xml"})


def test_http_workers_are_two_per_core_unless_set(tmp_path: Path) -> None:
    assert Settings.from_env({"CALSYNC_VAR_DIR": str(tmp_path)}).http_workers is None
    chosen = Settings.from_env({"CALSYNC_VAR_DIR": str(tmp_path), "CALSYNC_HTTP_WORKERS": "3"})
    assert chosen.http_workers == 3


@pytest.mark.parametrize("workers", ["0", "-1", "two", "\u0663", "1000"])
def test_a_bad_http_worker_count_names_the_variable(tmp_path: Path, workers: str) -> None:
    with pytest.raises(SettingsError, match="CALSYNC_HTTP_WORKERS"):
        Settings.from_env({"CALSYNC_VAR_DIR": str(tmp_path), "CALSYNC_HTTP_WORKERS": workers})
