"""The on-call console under ``/console``: server-rendered pages over what ``calsync status``,
``calsync dlq`` and ``calsync connections`` read and do (issue 21).

Off unless operator tokens are configured (``CALSYNC_CONSOLE_TOKEN``); see ``session`` for
sign-in, cookies and CSRF, ``web`` for the guard every request passes.
"""

from __future__ import annotations

from flask import Flask

# The view modules register their routes on the blueprint when imported.
from ingest.console import connections, formats, letters, overview, signin, web  # noqa: F401
from ingest.console.ports import ConsolePorts
from ingest.console.session import Sessions


def install(app: Flask, ports: ConsolePorts) -> None:
    app.extensions[web.EXTENSION] = (ports, Sessions(ports.signing_key, ports.tokens))
    app.register_blueprint(web.bp)
