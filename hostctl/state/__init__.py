"""The one state store: a SQLite database in WAL mode under HOSTCTL_ROOT."""

from hostctl.state.store import App, Release, Store

__all__ = ["App", "Release", "Store"]
