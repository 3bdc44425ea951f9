"""Choosing an app network's subnet, and the server config's `network:` section."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

import pytest

from hostctl.adapters.docker import free_subnet
from hostctl.core.errors import HostctlError
from hostctl.server_config import NetworkConfig, load_server_config

POOL = IPv4Network("10.201.0.0/16")


def test_the_first_subnet_that_overlaps_nothing_taken_is_chosen():
    assert free_subnet(POOL, 24, []) == IPv4Network("10.201.0.0/24")
    taken = [
        IPv4Network("10.201.0.0/24"),  # another app's network
        IPv4Network("10.201.1.128/25"),  # part of the next one (a route, a network)
        IPv4Network("10.200.0.0/15"),  # a host route covering 10.201.2.0 onwards too
        IPv6Network("fd00::/8"),  # other families never clash
    ]
    assert free_subnet(POOL, 24, taken[:2]) == IPv4Network("10.201.2.0/24")
    assert free_subnet(POOL, 24, taken) is None
    assert free_subnet(IPv4Network("10.201.0.0/26"), 28, taken[3:]) == IPv4Network("10.201.0.0/28")
    full = list(IPv4Network("10.202.0.0/26").subnets(new_prefix=28))
    assert free_subnet(IPv4Network("10.202.0.0/26"), 28, full[:3]) == full[3]
    assert free_subnet(IPv4Network("10.202.0.0/26"), 28, full) is None


def test_the_network_section_is_validated_with_key_paths(tmp_path):
    path = tmp_path / "hostctl.yml"
    path.write_text("domain: example.com\n")
    assert load_server_config(path).network == NetworkConfig(POOL, 24)
    path.write_text("network: {app_subnets: 172.30.0.0/20, app_prefix: 27}\n")
    assert load_server_config(path).network == NetworkConfig(IPv4Network("172.30.0.0/20"), 27)
    for text, problem in (
        ("network: {app_subnets: 10.201.0.1/16}", "network/app_subnets: should be an IPv4"),
        ("network: {app_subnets: fd00::/64}", "network/app_subnets: should be an IPv4"),
        ("network: {app_subnets: 8.8.0.0/16}", "network/app_subnets: should be a private"),
        ("network: {app_prefix: 30}", "network/app_prefix: should be a prefix length"),
        (
            "network: {app_subnets: 10.0.0.0/24, app_prefix: 20}",
            "network/app_prefix: should be at least",
        ),
        ("network: {subnets: 10.0.0.0/8}", "network/subnets: unknown key"),
    ):
        path.write_text(text + "\n")
        with pytest.raises(HostctlError) as caught:
            load_server_config(path)
        assert problem in caught.value.message, text
