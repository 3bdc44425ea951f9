import os

import pytest

from hostctl.core.errors import HostctlError
from hostctl.core.yaml_sections import Resources
from hostctl.server_config import BuildCache, load_server_config
from hostctl.stack.app_config import HealthCheck, parse_app_config


def error_of(text: str) -> str:
    with pytest.raises(HostctlError) as caught:
        parse_app_config(text)
    return caught.value.message


def test_full_app_config_is_read_into_frozen_dataclasses():
    config = parse_app_config(
        "port: 8000\n"
        "healthcheck: {path: /health, timeout: 5, content: ok}\n"
        "processes:\n  web: gunicorn app:app\n  worker: {command: python worker.py}\n"
        "release: python manage.py migrate\n"
        "resources: {memory: 256m, pids: 100}\n"
        "stop_timeout: 8\n"
    )
    assert config.port == 8000
    assert config.healthcheck == HealthCheck(path="/health", timeout=5.0, content="ok")
    assert dict(config.processes) == {"web": "gunicorn app:app", "worker": "python worker.py"}
    assert config.release == "python manage.py migrate"
    assert config.resources_over(Resources()) == Resources(memory=256 * 1024**2, pids=100)
    assert config.stop_timeout == 8.0
    assert parse_app_config("port: 80").stop_timeout == 30.0
    assert parse_app_config("deploy_timeout: 90").deploy_timeout == 90.0
    assert parse_app_config("port: 80").deploy_timeout == 600.0
    with pytest.raises(AttributeError):
        config.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "healthcheck: {timeout: soon}",
            "hostctl.yml: healthcheck/timeout: should be a number of seconds",
        ),
        ("port: eighty", "hostctl.yml: port: should be an integer"),
        ("port: 70000", "hostctl.yml: port: should be a TCP port between 1 and 65535"),
        ("healthcheck: {path: health}", "hostctl.yml: healthcheck/path: should start with /"),
        ("processes: {web: 5}", "hostctl.yml: processes/web: should be a command string"),
        (
            "processes: {web: {cmd: x}}",
            "hostctl.yml: processes/web/cmd: unknown key; allowed keys are: command",
        ),
        (
            "resources: {memory: lots}",
            "hostctl.yml: resources/memory: should be a size like 256m or 1g",
        ),
        (
            "stop_timeout: -1",
            "hostctl.yml: stop_timeout: should be a number of seconds above 0 and at most 3600",
        ),
        # Numbers are finite and bounded (issue 12, item 9): each of these broke a box.
        (
            "stop_timeout: .inf",
            "hostctl.yml: stop_timeout: should be a number of seconds above 0 and at most 3600",
        ),
        (
            "healthcheck: {timeout: .nan}",
            "hostctl.yml: healthcheck/timeout: should be a number of seconds above 0 and at most"
            " 3600",
        ),
        (
            "resources: {memory: 0}",
            "hostctl.yml: resources/memory: should be a size from 6m to 1024g",
        ),
        (
            "resources: {memory: 99999999999999999999999g}",
            "hostctl.yml: resources/memory: should be a size like 256m or 1g",
        ),
        (
            "resources: {cpus: .inf}",
            "hostctl.yml: resources/cpus: should be a number of CPUs at least 0.01 and at most"
            f" {os.cpu_count() or 1}",
        ),
        (
            "resources: {pids: 99999999999}",
            "hostctl.yml: resources/pids: should be at most 4194304",
        ),
        (
            "deploy_timeout: .inf",
            "hostctl.yml: deploy_timeout: should be a number of seconds above 0 and at most 21600",
        ),
        (
            "deploy_timeout: 100000",
            "hostctl.yml: deploy_timeout: should be a number of seconds above 0 and at most 21600",
        ),
        ("- just\n- a list", "hostctl.yml: (top level): should be a mapping of keys to values"),
    ],
)
def test_errors_name_the_key_path(text, message):
    assert error_of(text) == message


def test_unknown_keys_are_refused_with_the_allowed_ones():
    message = error_of("prot: 8000")
    assert message.startswith("hostctl.yml: prot: unknown key; allowed keys are: port, healthcheck")


def test_invalid_yaml_names_the_line():
    assert error_of("port: 1\nhealthcheck: [\n").startswith("hostctl.yml: not valid YAML at line")


def test_server_config_defaults_and_validation(tmp_path):
    assert load_server_config(tmp_path / "missing.yml").domain == "localhost"
    path = tmp_path / "hostctl.yml"
    path.write_text("domain: example.com\nhttp_port: 8080\nresources: {memory: 1g}\n")
    config = load_server_config(path)
    assert (config.domain, config.http_port, config.resources.memory) == (
        "example.com",
        8080,
        1024**3,
    )
    assert (config.build.memory, config.build.pids) == (2 * 1024**3, 2048)
    path.write_text("build: {memory: 1g, pids: 500}\n")
    assert load_server_config(path).build == Resources(memory=1024**3, pids=500)
    path.write_text("build: {cpus: 1}\n")
    with pytest.raises(HostctlError, match="build/cpus: unknown key"):
        load_server_config(path)
    path.write_text("domain: 'not a domain!'\n")
    with pytest.raises(HostctlError, match="domain: should be a DNS name"):
        load_server_config(path)
    path.write_text("agent: {listen: '0.0.0.0:80'}\n")
    with pytest.raises(HostctlError) as public:
        load_server_config(path)
    assert public.value.message.endswith(
        "agent/listen: 0.0.0.0:80: the agent binds to loopback or the tailnet only"
    )


def test_edge_listen_is_validated_with_its_key_path(tmp_path):
    path = tmp_path / "hostctl.yml"
    assert load_server_config(path).edge.listen is None, "unset: decided by the tunnel"
    path.write_text("edge: {listen: ['127.0.0.1', '::1', tunnel, '127.0.0.1']}\n")
    assert load_server_config(path).edge.listen == ("127.0.0.1", "::1", "tunnel")
    path.write_text("edge: {listen: '*'}\n")
    assert load_server_config(path).edge.listen == ("*",)
    for listen, problem in (
        ("0.0.0.0:80", "edge/listen: 0.0.0.0:80: expected an IP address (the port is http_port)"),
        ("[]", "edge/listen: should be an address or a list of them"),
        ("['*', '127.0.0.1']", "edge/listen: '*' already means every address"),
    ):
        path.write_text(f"edge: {{listen: {listen}}}\n")
        with pytest.raises(HostctlError) as refused:
            load_server_config(path)
        assert problem in refused.value.message
    path.write_text("edge: {port: 80}\n")
    with pytest.raises(HostctlError, match="edge/port: unknown key"):
        load_server_config(path)


def test_the_build_cache_bounds_are_keys_of_build(tmp_path):
    path = tmp_path / "hostctl.yml"
    path.write_text("build: {pids: 500}\n")
    assert load_server_config(path).build_cache == BuildCache(
        max_age=7 * 86400, max_size=2 * 1024**3
    )
    path.write_text("build: {cache_max_age: 3600, cache_max_size: 500m}\n")
    config = load_server_config(path)
    assert config.build_cache == BuildCache(max_age=3600, max_size=500 * 1024**2)
    assert config.build.pids == 2048
    for text, problem in (
        ("cache_max_age: 0", "build/cache_max_age: should be a number of seconds"),
        ("cache_max_age: .inf", "build/cache_max_age: should be a number of seconds"),
        ("cache_max_size: lots", "build/cache_max_size: should be a size like 256m or 1g"),
    ):
        path.write_text(f"build:\n  {text}\n")
        with pytest.raises(HostctlError, match=problem):
            load_server_config(path)
