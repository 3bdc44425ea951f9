"""App networks take their subnets from hostctl's own range (server config
`network/app_subnets`), so a box holds more apps than Docker's default address pools
(about 30 networks) allow. Networks only, on the real engine: no containers."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostctl.adapters.docker import host_routes
from hostctl.core.errors import HostctlError
from hostctl.host import Host
from tests.harness.env import remove_labelled

pytestmark = pytest.mark.integration


@pytest.fixture
def host(engine: None, hostctl_env: Path) -> Iterator[Host]:
    made = Host()
    yield made
    remove_labelled(made.settings.namespace)


def subnets_of(host: Host, apps: list[str]) -> list[ipaddress.IPv4Network]:
    found = []
    for app in apps:
        network = host.docker.client.networks.get(host.app_network(app))
        (pool,) = network.attrs["IPAM"]["Config"]
        found.append(ipaddress.IPv4Network(pool["Subnet"]))
    return found


def other_networks(host: Host) -> set[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    """Every network that is not this test's, whoever made it: (id, subnet)."""
    return {
        (network["Id"], ipaddress.ip_network(pool["Subnet"]))
        for network in host.docker.client.api.networks()
        for pool in (network.get("IPAM") or {}).get("Config") or []
        if not network["Name"].startswith(f"{host.settings.namespace}-")
    }


def test_more_app_networks_than_dockers_default_pools_each_get_a_subnet_of_their_own(
    host: Host,
):
    before = other_networks(host)
    apps = [f"a{n}" for n in range(35)]
    for app in apps:
        host.ensure_app_network(app)
    # the networks there all along (another test may free a subnet meanwhile: it is then
    # rightly taken again)
    others = before & other_networks(host)
    subnets = subnets_of(host, apps)
    pool = host.settings.server.network.app_subnets
    assert all(subnet.subnet_of(pool) and subnet.prefixlen == 24 for subnet in subnets)
    assert len(set(subnets)) == len(apps)
    routes = host_routes()
    for subnet in subnets:
        # distinct from one another, from other networks, and from what the host routes
        # to other than through these networks' own bridges
        assert not any(subnet.overlaps(other) for _, other in others if other.version == 4)
    assert not any(
        route.overlaps(subnet) and route != subnet for route in routes for subnet in subnets
    )

    host.ensure_app_network(apps[0])  # an existing network keeps its subnet
    assert subnets_of(host, apps[:1]) == subnets[:1]


def test_a_full_range_is_an_error_that_says_which_setting_to_widen(host: Host):
    host.settings.paths.server_config.parent.mkdir(parents=True, exist_ok=True)
    # 10.202.0.0/26 holds four /28s
    host.settings.paths.server_config.write_text(
        "network: {app_subnets: 10.202.0.0/26, app_prefix: 28}\n"
    )
    for n in range(4):
        host.ensure_app_network(f"f{n}")
    assert sorted(subnets_of(host, [f"f{n}" for n in range(4)])) == list(
        ipaddress.IPv4Network("10.202.0.0/26").subnets(new_prefix=28)
    )
    with pytest.raises(HostctlError) as caught:
        host.ensure_app_network("f4")
    assert "no free /28 subnet is left in 10.202.0.0/26" in caught.value.message
    assert "network/app_subnets" in (caught.value.hint or "")


def test_networks_made_at_the_same_moment_take_the_next_free_subnet(host: Host):
    # Each creation lists the taken subnets first, so concurrent ones pick the same
    # candidate: the engine refuses all but one ("overlaps"), and the others move on.
    apps = [f"c{n}" for n in range(8)]
    hosts = [Host() for _ in apps]
    failures: list[Exception] = []

    def make(own: Host, app: str) -> None:
        try:
            own.ensure_app_network(app)
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=make, args=pair) for pair in zip(hosts, apps, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    subnets = subnets_of(host, apps)
    assert len(set(subnets)) == len(apps)
    assert not any(a.overlaps(b) for a in subnets for b in subnets if a != b)
