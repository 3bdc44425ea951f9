"""The docker adapter's connections to the engine's unix socket: one pool, whatever the
URL (the SDK made one per URL, each keeping its connection open)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from hostctl.adapters.docker import Docker, engine_address
from tests.harness.env import NAMESPACE

pytestmark = pytest.mark.integration


def test_calls_to_many_urls_share_one_pool_and_its_connection(engine: None) -> None:
    if not engine_address().startswith("unix://"):
        pytest.skip("the engine is not reached over a unix socket here")
    docker = Docker()
    for n in range(30):  # a URL each, as container ids and filters make them
        docker.client.api.containers(all=True, filters={"label": f"io.hostctl.test=pool{n}"})
    adapter = docker.client.api.adapters["http+docker://"]
    assert list(adapter.pools.keys()) == [adapter.socket_path]
    idle = [c for c in adapter.pools[adapter.socket_path].pool.queue if c is not None]
    assert len(idle) == 1  # reused, call after call


def test_disk_usage_asked_at_once_from_several_places_waits_its_turn(engine: None) -> None:
    """The engine runs one `system df` at a time and refuses others meanwhile (seen in CI:
    a deploy's prune met another's); each caller gets its answer."""
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: len(Docker().build_cache()), range(4)))
    assert len(answers) == 4  # none was refused: map re-raises a caller's error


def test_image_prunes_at_once_wait_their_turn(engine: None) -> None:
    """Likewise one image prune at a time (seen in CI: two apps' deploys pruned at once,
    and a live release was reported failed)."""
    labels = {"io.hostctl.namespace": f"{NAMESPACE}-nothing"}  # matches no image
    docker = Docker()
    with ThreadPoolExecutor(8) as pool:  # enough at once that some meet
        freed = list(pool.map(lambda _: docker.prune_dangling_images(labels), range(80)))
    assert freed == [0] * 80  # none was refused
