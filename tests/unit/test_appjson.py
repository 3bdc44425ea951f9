"""app.json beyond health checks: scripts, cron, env defaults, formation, warnings."""

import pytest

from hostctl.core.errors import HostctlError
from hostctl.stack.appjson import AppJson, CronJob, EnvDefault, parse_app_json
from hostctl.stack.plan import RuntimeSpec


def test_everything_dokku_reads_is_parsed():
    found = parse_app_json(
        """{
          "name": "blog",
          "scripts": {"dokku": {"predeploy": "./migrate", "postdeploy": "./warm"}},
          "cron": [{"schedule": "*/5 * * * *", "command": "./tick"},
                   {"schedule": "@daily", "command": "./sweep"}],
          "env": {"A": "short", "B": {"value": 3}, "C": {"required": true},
                  "D": {"generator": "secret", "description": "x"}},
          "formation": {"web": {"quantity": 2}, "worker": {"quantity": 0}}
        }"""
    )
    assert found == AppJson(
        predeploy="./migrate",
        postdeploy="./warm",
        cron=[CronJob("*/5 * * * *", "./tick"), CronJob("@daily", "./sweep")],
        env={
            "A": EnvDefault(value="short"),
            "B": EnvDefault(value="3"),
            "C": EnvDefault(required=True),
            "D": EnvDefault(secret=True),
        },
        formation={"web": 2, "worker": 0},
    )


def test_unsupported_keys_are_warnings():
    found = parse_app_json(
        """{"addons": [], "buildpacks": [], "scripts": {"postdeploy": "x",
            "dokku": {"predestroy": "y"}}, "formation": {"web": {"size": "basic"}},
            "cron": [{"schedule": "@hourly", "command": "z", "concurrency": 1}],
            "env": {"K": {"value": "v", "order": 1}},
            "healthchecks": {"worker": []}}"""
    )
    assert found.warnings == [
        "app.json: addons: not supported by hostctl, ignored",
        "app.json: buildpacks: not supported by hostctl, ignored",
        "app.json: healthchecks/worker: only web is checked, ignored",
        "app.json: scripts/postdeploy: not supported by hostctl, ignored",
        "app.json: scripts/dokku/predestroy: not supported by hostctl, ignored",
        "app.json: cron/0/concurrency: not supported by hostctl, ignored",
        "app.json: env/K/order: not supported by hostctl, ignored",
        "app.json: formation/web/size: not supported by hostctl, ignored",
    ]
    assert found.formation == {"web": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"cron": {}}', "app.json: cron: should be a list"),
        ('{"cron": [{"schedule": "* * * *", "command": "x"}]}', "cron/0/schedule: '* * * *'"),
        ('{"cron": [{"schedule": "* * * * * *", "command": "x"}]}', "is not a cron schedule"),
        ('{"cron": [{"schedule": "61 * * * *", "command": "x"}]}', "is not a cron schedule"),
        ('{"cron": [{"schedule": "@daily"}]}', "cron/0/command: is missing"),
        ('{"env": {"1X": "v"}}', "env/1X: invalid environment variable name"),
        ('{"env": {"K": {"generator": "uuid"}}}', 'env/K/generator: should be "secret"'),
        ('{"env": {"K": {"required": "yes"}}}', "env/K/required: should be true or false"),
        ('{"formation": {"web": {"quantity": -1}}}', "formation/web/quantity: should be"),
        ('{"scripts": {"dokku": {"predeploy": 1}}}', "scripts/dokku/predeploy: should be a"),
    ],
)
def test_bad_app_json_names_the_key(text, message):
    with pytest.raises(HostctlError) as raised:
        parse_app_json(text)
    assert message in raised.value.message


def test_specs_stored_before_cron_and_formation_still_read():
    old = {
        "port": 5000,
        "processes": {"web": None},
        "release_command": None,
        "health": {"path": "/", "timeout": 30.0, "content": None},
        "resources": {"memory": 512 * 1024**2, "pids": 256, "cpus": None},
    }
    spec = RuntimeSpec.from_json(old)
    assert spec.cron == [] and spec.formation == {}
