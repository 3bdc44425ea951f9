"""Releases: build, the health-gated swap, rollback, env changes and reconcile."""
