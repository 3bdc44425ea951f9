"""scripts/check-imports on a made-up tree: only adapters import the outside libraries."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check-imports"


def check(root: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    loader = importlib.machinery.SourceFileLoader("check_imports", str(SCRIPT))
    spec = importlib.util.spec_from_loader("check_imports", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    module.ROOT = root
    module.main()
    return capsys.readouterr().out.splitlines()[:-1]


def test_only_adapters_import_pyjwt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "hostctl"
    for package in ("", "adapters", "core"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "adapters" / "github.py").write_text("def sign():\n    import jwt\n")
    (root / "core" / "tokens.py").write_text("import jwt\nfrom jwt import encode\n")
    assert check(root, capsys) == [
        "hostctl/core/tokens.py:1: imports jwt (adapters only)",
        "hostctl/core/tokens.py:2: imports jwt (adapters only)",
    ]


def test_the_tree_has_no_problems(capsys: pytest.CaptureFixture[str]) -> None:
    assert check(SCRIPT.parents[1] / "hostctl", capsys) == []
