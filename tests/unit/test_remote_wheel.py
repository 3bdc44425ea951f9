"""The wheel `hostctl setup USER@HOST` uploads: built from the checkout (and cached), or
repacked from an installed hostctl, which must install and run like the original."""

import subprocess
import sys
import zipfile

from hostctl.core.paths import LaptopPaths
from hostctl.setup.remote import this_wheel


def test_built_once_then_repacked_from_an_install_into_the_same_wheel(tmp_path):
    paths = LaptopPaths(tmp_path / "config", tmp_path / "cache")
    told: list[str] = []
    built = this_wheel(paths, told.append)
    assert built.is_relative_to(paths.wheels) and told == [told[0]]
    assert this_wheel(paths, told.append) == built and len(told) == 1, "cached"

    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    subprocess.run([*install, str(site), str(built)], check=True, capture_output=True)
    repack = (
        "from pathlib import Path; from hostctl.setup.remote import repacked, source_tree;"
        "assert source_tree() is None; print(repacked(Path('wheels')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", repack],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    repacked = tmp_path / done.stdout.strip()
    assert repacked.name == built.name
    original, again = (set(zipfile.ZipFile(w).namelist()) for w in (built, repacked))
    assert again == original

    other = tmp_path / "other"
    subprocess.run([*install, str(other), str(repacked)], check=True, capture_output=True)
    load = (
        "import hostctl, hostctl.core.templates as t;"
        "[t.read_template(n) for n in t.template_names()]; print(hostctl.__file__)"
    )
    run = subprocess.run(
        [sys.executable, "-c", load],
        cwd=tmp_path,
        env={"PYTHONPATH": str(other), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert run.stdout.startswith(str(other)), run.stderr
