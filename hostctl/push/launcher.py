"""How sshd (the forced command), the push user's git-shell wrapper and git (the hook)
start this very hostctl.

They run with a bare environment, so the settings this process runs with (state root,
config dir, namespace, edge port) are written into the command itself.
"""

from __future__ import annotations

import os
import sys

PASSED_ON = ("HOSTCTL_ROOT", "HOSTCTL_ETC", "HOSTCTL_NAMESPACE", "HOSTCTL_HTTP_PORT", "PYTHONPATH")


def hostctl_argv(*args: str) -> list[str]:
    """-P: `python -m` would otherwise import first from the current directory, which for
    a root process started in someone's home is theirs to fill."""
    settings = [f"{key}={os.environ[key]}" for key in PASSED_ON if key in os.environ]
    return ["env", *settings, sys.executable, "-P", "-m", "hostctl", *args]
