"""Keeping what a library imports for features hostctl never uses out of the agent."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def hidden(*names: str) -> Iterator[None]:
    """Importing ``names`` fails inside the block (a None entry in sys.modules), for a
    library that falls back without them; outside it they import normally."""
    hide = [name for name in names if name not in sys.modules]
    for name in hide:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hide:
            del sys.modules[name]
