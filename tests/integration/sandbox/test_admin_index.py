"""``GET /_admin`` on each sandbox lists its admin routes, each with what it does."""

from __future__ import annotations

import httpx
import pytest

from infra.sandbox.server import SandboxServer


@pytest.mark.parametrize("which", ["google", "graph"])
def test_admin_root_lists_every_admin_route_with_its_description(
    sandbox: SandboxServer, which: str
) -> None:
    root = sandbox.google_url if which == "google" else sandbox.graph_url

    answer = httpx.get(f"{root}/_admin", timeout=10)

    assert answer.status_code == 200
    routes = answer.json()
    listed = {(route["method"], route["path"]) for route in routes}
    assert {
        ("GET", "/_admin"),
        ("POST", "/_admin/users"),
        ("POST", "/_admin/users/<user>/events"),
        ("GET", "/_admin/users/<user>/events"),
        ("POST", "/_admin/oauth/settings"),
    } <= listed
    assert all(route["path"].startswith("/_admin") for route in routes)
    assert all(route["description"] and "``" not in route["description"] for route in routes)
    assert (("POST", "/_admin/subscriptions/<subscription_id>/lifecycle") in listed) is (
        which == "graph"
    )
