"""The agent's log: one line per event, as key=value pairs with app, job and release ids."""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger("hostctl.agent")


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per API call is noise


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    parts = [f"event={name}"]
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        parts.append(
            f"{key}={text if text and ' ' not in text and '=' not in text else repr(text)}"
        )
    log.log(level, " ".join(parts))


class EventReporter:
    """A job's progress as log events (build output stays in the job's log file)."""

    def __init__(self, app: str, job: int) -> None:
        self.app = app
        self.job = job

    def step(self, text: str) -> None:
        event("step", app=self.app, job=self.job, text=text)

    def detail(self, text: str) -> None:
        pass
