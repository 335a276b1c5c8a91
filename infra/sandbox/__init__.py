"""Local Google Calendar and Microsoft Graph servers that the real client libraries talk to.

The sandboxes let tests and the demo run the whole pipeline without a Google or Microsoft
account; nothing here contacts either company. Start both with :class:`SandboxServer`
(or ``calsync sandbox`` / ``python -m infra.sandbox``) and drive them through each
server's admin API with :class:`SandboxAdminClient`::

    with SandboxServer() as sandbox:
        google = SandboxAdminClient(sandbox.google_url)
        ann = google.create_user("ann@example.com", time_zone="Europe/Berlin")
        # googleapiclient: build("calendar", "v3", credentials=...,
        #     client_options={"api_endpoint": sandbox.google_api_url}), with
        #     token_uri=sandbox.google_token_url and refresh_token=ann["refresh_token"]
        # msgraph-sdk: GraphRequestAdapter(...).base_url = sandbox.graph_api_url, tokens
        #     from sandbox.graph_token_url()

Module map: ``*_state`` hold the in-memory data, ``*_api``/``*_oauth`` are the provider
routes, ``google_sync``/``graph_delta`` the incremental sync, ``google_channels``/
``graph_subscriptions`` the push side, ``notifications`` the delivery thread, ``faults``
the fault knobs, ``admin_api``/``*_admin`` and ``client`` the controls, ``server`` and
``command`` the ways to run it.
"""

from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer

__all__ = ["SandboxAdminClient", "SandboxServer"]
