"""The harness is real: an image built FROM a stand-in base through hostctl's docker
adapter, run on a labelled private network, and reached through a real Caddy process."""

import json
import subprocess
import time

import pytest

from hostctl.adapters.docker import BuildLimits, ContainerSpec, Docker
from hostctl.core.templates import base_images
from tests.harness.env import NAMESPACE, free_port
from tests.harness.hostctl import http_get


@pytest.mark.integration
def test_build_run_and_proxy_through_caddy(engine, tmp_path):
    docker = Docker()
    labels = {"io.hostctl.namespace": NAMESPACE, "io.hostctl.test": "smoke"}
    network = f"{NAMESPACE}-smoke"
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base_images()['python']}\n"
        "RUN echo 'hello through caddy' > /index.txt\n"
        'CMD ["python", "-m", "http.server", "8000", "--directory", "/"]\n'
    )
    tag = f"{NAMESPACE}/smoke:1"
    lines: list[str] = []
    docker.build(context, tag, labels, lines.append, BuildLimits(timeout=300, memory=1024**3))
    assert any("Successfully tagged" in line or "naming to" in line for line in lines)

    docker.ensure_network(network, labels)
    name = f"{NAMESPACE}-smoke-web"
    docker.run(ContainerSpec(name=name, image=tag, labels=labels, network=network))
    caddy = None
    try:
        state = docker.state(name, network)
        assert state is not None and state.ip, "the container has an address on the network"
        port = free_port()
        config = tmp_path / "caddy.json"
        config.write_text(
            json.dumps(
                {
                    "admin": {"disabled": True},
                    "apps": {
                        "http": {
                            "http_port": port,
                            "servers": {
                                "smoke": {
                                    "listen": [f"127.0.0.1:{port}"],
                                    "automatic_https": {"disable": True},
                                    "routes": [
                                        {
                                            "match": [{"host": ["smoke.test"]}],
                                            "handle": [
                                                {
                                                    "handler": "reverse_proxy",
                                                    "upstreams": [{"dial": f"{state.ip}:8000"}],
                                                    "load_balancing": {"try_duration": "10s"},
                                                }
                                            ],
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            )
        )
        caddy = subprocess.Popen(
            ["caddy", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = http_get(port, "smoke.test", "/index.txt", timeout=5)
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no answer through Caddy within 30s"
            time.sleep(0.2)
        assert body == "hello through caddy\n"
        inspect = docker.client.containers.get(name).attrs
        assert inspect["HostConfig"]["PortBindings"] in ({}, None), "no port is published"
        assert "no-new-privileges:true" in inspect["HostConfig"]["SecurityOpt"]
    finally:
        if caddy is not None:
            caddy.terminate()
            caddy.wait(timeout=10)
        docker.remove(name, timeout=1)
        docker.client.networks.get(network).remove()
        docker.remove_image(tag)
    assert docker.state(name, network) is None
    assert not docker.client.networks.list(names=[network])
    assert not docker.image_exists(tag)
