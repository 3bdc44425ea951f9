"""How the engine reports progress: steps for people, details (build output) for the log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TextIO


class Reporter(Protocol):
    def step(self, text: str) -> None: ...

    def detail(self, text: str) -> None: ...


class Silent:
    def step(self, text: str) -> None:
        pass

    def detail(self, text: str) -> None:
        pass


class Logged:
    """Writes everything to a release's log file and passes it on. A watcher that went
    away (a closed `git push`, a broken pipe) stops being told; the deploy carries on."""

    def __init__(self, path: Path, inner: Reporter) -> None:
        self.path = path
        self.inner = inner
        self.file: TextIO = path.open("a", encoding="utf-8")

    def step(self, text: str) -> None:
        self.file.write(f"-----> {text}\n")
        self.file.flush()
        self.pass_on(self.inner.step, text)

    def detail(self, text: str) -> None:
        self.file.write(f"       {text}\n")
        self.file.flush()
        self.pass_on(self.inner.detail, text)

    def note(self, text: str) -> None:
        """To the log file only: the caller tells the watcher itself (e.g. as an error)."""
        self.file.write(f"-----> {text}\n")
        self.file.flush()

    def pass_on(self, tell: Callable[[str], None], text: str) -> None:
        try:
            tell(text)
        except OSError:  # the watcher is gone; the log file has it all
            self.inner = Silent()

    def close(self) -> None:
        self.file.close()
