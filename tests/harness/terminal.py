"""Commands run in a pseudo-terminal, as a person at a laptop runs them, answering the
prompts they print."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Callable


def converse(
    argv: list[str],
    env: dict[str, str],
    prompts: list[tuple[bytes, bytes]],
    seconds: float,
    watch: Callable[[str], None] | None = None,
) -> tuple[int, str, list[tuple[bytes, bytes]]]:
    """Run ``argv`` with a terminal as stdin, stdout and stderr; write each answer once its
    prompt shows on the current line, in order; ``watch`` sees all shown so far after each
    read (to act as the person would, e.g. open a printed URL). Returns the exit status,
    what the terminal showed, and the prompts that never came."""
    waiting = list(prompts)
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        argv, env=env, stdin=secondary, stdout=secondary, stderr=secondary, start_new_session=True
    )
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if select.select([main], [], [], 1)[0]:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if watch is not None:
                watch(seen.decode(errors="replace"))
        if waiting and waiting[0][0] in seen.rsplit(b"\n", 1)[-1]:
            os.write(main, waiting.pop(0)[1])
    os.close(main)
    return process.wait(timeout=30), seen.decode(errors="replace"), waiting
