"""Secret files: written atomically, 0600, by any number of writers at once."""

from __future__ import annotations

import threading
from pathlib import Path

from hostctl.core.private_files import write_private_text


def test_writers_in_one_process_never_share_a_temporary_file(tmp_path: Path) -> None:
    """The agent's threads can save the same file at once: each write is whole."""
    path = tmp_path / "etc" / "github.json"
    texts = [f"{n}" * 50_000 for n in range(4)]
    failures: list[BaseException] = []

    def write(text: str) -> None:
        try:
            for _ in range(50):
                write_private_text(path, text)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert path.read_text() in texts
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["github.json"]  # no leftovers
