"""Stopping containers through the docker adapter, on the real engine: each container's
own grace period, and removals racing each other (a deploy's leftovers, reconcile and
the next deploy may all reach for the same old container)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from hostctl.adapters.docker import ContainerSpec, Docker
from hostctl.core.templates import base_images
from tests.harness.env import NAMESPACE

pytestmark = pytest.mark.integration
LABELS = {"io.hostctl.namespace": NAMESPACE, "io.hostctl.test": "removal"}
IGNORES_SIGTERM = ["sh", "-c", "trap '' TERM; while :; do sleep 0.2; done"]


@pytest.fixture
def docker(engine: None) -> Iterator[Docker]:
    adapter = Docker()
    network = f"{NAMESPACE}-removal"
    adapter.ensure_network(network, LABELS)
    yield adapter
    for container in adapter.containers(LABELS, network):
        adapter.remove(container.name, timeout=0)
    adapter.client.networks.get(network).remove()


def start(docker: Docker, name: str, stop_timeout: float) -> str:
    docker.run(
        ContainerSpec(
            name=f"{NAMESPACE}-{name}",
            image=base_images()["debian"],
            labels=LABELS,
            network=f"{NAMESPACE}-removal",
            command=IGNORES_SIGTERM,
            restart=False,
            stop_timeout=stop_timeout,
        )
    )
    return f"{NAMESPACE}-{name}"


def test_remove_waits_the_grace_period_the_container_was_made_with(docker):
    name = start(docker, "graceful", stop_timeout=3)
    started = time.monotonic()
    docker.remove(name)
    assert time.monotonic() - started >= 2.5, "SIGKILL came before the container's 3 s"
    assert docker.state(name, f"{NAMESPACE}-removal") is None


def test_racing_removals_all_return_once_the_container_is_gone(docker):
    name = start(docker, "raced", stop_timeout=2)
    errors: list[BaseException] = []

    def remove() -> None:
        try:
            docker.remove(name)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=remove) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert docker.state(name, f"{NAMESPACE}-removal") is None
