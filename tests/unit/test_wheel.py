"""An installed wheel carries templates/ and can load every template."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_installed_wheel_loads_every_template(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("hostctl-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.startswith("hostctl/templates/"))
    expected = sorted(
        "hostctl/templates/" + str(p.relative_to(ROOT / "templates"))
        for p in (ROOT / "templates").rglob("*")
        if p.is_file()
    )
    assert shipped == expected
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    check = (
        "import hostctl.core.templates as t, pathlib;"
        f"assert str(t.template_root()).startswith({str(target)!r}), t.template_root();"
        "names = t.template_names(); [t.read_template(n) for n in names];"
        "print(len(names), sorted(t.base_images()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
    )
    count, _ = done.stdout.split(" ", 1)
    assert int(count) == len(expected)
