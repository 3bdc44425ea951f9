"""The domain answer: apps are served as APP.DOMAIN, written as `domain:` in hostctl.yml
(the rest of the file, comments too, kept as it is)."""

from __future__ import annotations

import re
from pathlib import Path

from hostctl.server_config import load_server_config
from hostctl.setup.files import install_file
from hostctl.setup.steps import Step

DOMAIN_LINE = re.compile(r"^domain:.*$", re.MULTILINE)


def domain_step(config: Path, domain: str) -> Step:
    return Step(
        name=f"domain {domain} in {config}",
        goal=f"{config} says `domain: {domain}`: apps are served as APP.{domain}",
        check=lambda: config.exists() and load_server_config(config).domain == domain,
        apply=lambda: write_domain(config, domain),
    )


def write_domain(config: Path, domain: str) -> None:
    text = config.read_text() if config.exists() else "# hostctl server config: see docs/apps.md\n"
    line = f"domain: {domain}"
    if DOMAIN_LINE.search(text):
        text = DOMAIN_LINE.sub(line, text, count=1)
    else:
        text = text + ("" if text.endswith("\n") or not text else "\n") + line + "\n"
    config.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    install_file(config, text, 0o644)
