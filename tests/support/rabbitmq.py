"""A RabbitMQ vhost of the test session's own, made and removed with rabbitmqctl."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from urllib.parse import quote, urlsplit, urlunsplit


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def create_vhost(base_url: str) -> str:
    """Create ``calsync_test_<random>`` and return ``base_url`` pointed at it.

    Raises:
        OSError: rabbitmqctl is missing or the node does not answer.
    """
    if shutil.which("rabbitmqctl") is None:
        raise FileNotFoundError("rabbitmqctl is not installed")
    name = f"calsync_test_{uuid.uuid4().hex[:10]}"
    user = urlsplit(base_url).username or "guest"
    try:
        rabbitmqctl("add_vhost", name)
        rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
    except subprocess.CalledProcessError as exc:
        raise ConnectionError(exc.stderr.decode(errors="replace").strip()) from None
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), "", ""))


def delete_vhost(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    subprocess.run(
        ["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=60, check=False
    )
