"""A deploy's progress goes to its log file and to whoever watches; a watcher that hangs
up (a real pipe whose reader is gone) must not stop the deploy."""

from __future__ import annotations

import os
import signal

import pytest

from hostctl.core.progress import Logged


class PipeWatcher:
    def __init__(self) -> None:
        read_end, write_end = os.pipe()
        self.reader = os.fdopen(read_end, "r")
        self.writer = os.fdopen(write_end, "w", buffering=1)

    def step(self, text: str) -> None:
        self.writer.write(f"-----> {text}\n")

    def detail(self, text: str) -> None:
        self.writer.write(f"       {text}\n")


def test_a_watcher_that_hangs_up_is_dropped_and_the_log_keeps_everything(tmp_path):
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN, "Python turns EPIPE into errors"
    watcher = PipeWatcher()
    log = Logged(tmp_path / "release.log", watcher)
    log.step("Building")
    assert watcher.reader.readline() == "-----> Building\n"
    watcher.reader.close()
    with pytest.raises(BrokenPipeError):
        watcher.step("the pipe is really broken")
    log.detail("Step 1/8")
    log.step("Release 1 is live")
    log.close()
    assert (tmp_path / "release.log").read_text().splitlines() == [
        "-----> Building",
        "       Step 1/8",
        "-----> Release 1 is live",
    ]
