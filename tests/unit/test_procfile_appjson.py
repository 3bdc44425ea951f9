import pytest

from hostctl.core.errors import HostctlError
from hostctl.stack.app_config import HealthCheck
from hostctl.stack.appjson import health_from_app_json
from hostctl.stack.procfile import parse_procfile


def test_procfile_with_comments_blank_lines_and_odd_spacing():
    text = (
        "# processes\n\n"
        "web:gunicorn app:app --bind 0.0.0.0:$PORT\n"
        "  worker :   python worker.py --queue=a:b  \n"
        "\t\n"
        "release: ./migrate.sh\n"
    )
    assert parse_procfile(text) == {
        "web": "gunicorn app:app --bind 0.0.0.0:$PORT",
        "worker": "python worker.py --queue=a:b",
        "release": "./migrate.sh",
    }


def test_procfile_garbage_names_the_line():
    with pytest.raises(HostctlError, match="Procfile line 2"):
        parse_procfile("web: ok\nthis is not a process\n")


def test_dokku_app_json_healthchecks():
    check = health_from_app_json(
        '{"healthchecks": {"web": [{"type": "startup", "path": "/ready", "content": "ok",'
        ' "attempts": 3, "timeout": 2, "wait": 1}]}}'
    )
    assert check == HealthCheck(path="/ready", timeout=9.0, content="ok")
    assert health_from_app_json('{"name": "x"}') is None
    with pytest.raises(HostctlError, match=r"app\.json: not valid JSON"):
        health_from_app_json("{")
