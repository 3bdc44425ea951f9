"""The agent's systemd unit, rendered for this installation."""

from __future__ import annotations

import os
import shlex
import shutil
import sys

from hostctl.core.templates import render
from hostctl.settings import Settings


def systemd_unit(settings: Settings, listen: tuple[str, ...], workers: int) -> str:
    executable = shutil.which("hostctl") or f"{sys.executable} -m hostctl"
    argv = [*shlex.split(executable), "serve", "--workers", str(workers)]
    for address in listen:
        argv += ["--listen", address]
    environment = [
        (key, os.environ[key])
        for key in ("HOSTCTL_ROOT", "HOSTCTL_ETC", "HOSTCTL_NAMESPACE", "HOSTCTL_HTTP_PORT")
        if key in os.environ
    ]
    return render(
        "systemd/hostctl-agent.service", command=shlex.join(argv), environment=environment
    )
