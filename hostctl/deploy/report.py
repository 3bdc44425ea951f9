"""How the engine reports progress: steps for people, details (build output) for the log."""

from __future__ import annotations

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
    """Writes everything to a release's log file and passes it on."""

    def __init__(self, path: Path, inner: Reporter) -> None:
        self.path = path
        self.inner = inner
        self.file: TextIO = path.open("a", encoding="utf-8")

    def step(self, text: str) -> None:
        self.file.write(f"-----> {text}\n")
        self.file.flush()
        self.inner.step(text)

    def detail(self, text: str) -> None:
        self.file.write(f"       {text}\n")
        self.file.flush()
        self.inner.detail(text)

    def close(self) -> None:
        self.file.close()
