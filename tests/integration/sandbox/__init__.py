"""Integration tests of the provider sandboxes, driven through the real client libraries."""
