"""``python -m infra.sandbox``: the same as ``calsync sandbox``."""

from infra.sandbox.command import sandbox

sandbox()
