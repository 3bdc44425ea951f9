"""Files shipped in templates/ (inside the wheel as hostctl/templates), and the base images."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any


def template_root() -> Traversable:
    packaged = files("hostctl").joinpath("templates")
    if packaged.is_dir():
        return packaged
    # A source checkout (editable install): templates/ sits beside the package.
    return Path(__file__).resolve().parents[2] / "templates"


def read_template(name: str) -> str:
    return template_root().joinpath(*name.split("/")).read_text()


def template_names() -> list[str]:
    def walk(node: Traversable, prefix: str) -> list[str]:
        names = []
        for child in node.iterdir():
            if child.is_dir():
                names += walk(child, f"{prefix}{child.name}/")
            else:
                names.append(f"{prefix}{child.name}")
        return names

    return sorted(walk(template_root(), ""))


@cache
def base_images() -> dict[str, str]:
    """The base image tags the Dockerfile templates build FROM, by key (python, node...)."""
    images = {}
    for line in read_template("base-images.txt").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, tag, *_ = line.split()
            images[key] = tag
    return images


def render(name: str, **context: Any) -> str:
    import jinja2  # imported when used: ~5 MiB an idle agent need not hold

    environment = jinja2.Environment(
        loader=jinja2.FunctionLoader(read_template),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 (Dockerfiles and config files, not HTML)
    )
    return environment.get_template(name).render(images=base_images(), **context)
