"""Which address is the client: proxies' headers count only from trusted proxies."""

from __future__ import annotations

import pytest

from arbx.entrypoints.http.client_address import parse_networks, resolve_client

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


def test_headers_are_ignored_without_trusted_proxies() -> None:
    assert resolve_client("127.0.0.1", None, "6.6.6.6", ()) == "127.0.0.1"
    assert resolve_client("127.0.0.1", "for=6.6.6.6", None, ()) == "127.0.0.1"


def test_headers_are_ignored_from_a_peer_that_is_not_a_proxy() -> None:
    assert resolve_client("8.8.4.4", None, "6.6.6.6", PROXIES) == "8.8.4.4"


def test_the_first_untrusted_hop_from_the_right_is_the_client() -> None:
    # the client prepended a made-up address; the proxies appended the real one
    assert resolve_client("10.0.0.2", None, "6.6.6.6, 203.0.113.7, 10.0.0.9", PROXIES) == (
        "203.0.113.7"
    )


def test_forwarded_wins_and_handles_ports_and_ipv6() -> None:
    assert (
        resolve_client(
            "127.0.0.1", 'for="[2001:db8::1]:4711";proto=https, for=10.1.1.1', "9.9.9.9", PROXIES
        )
        == "2001:db8::1"
    )
    assert resolve_client("127.0.0.1", "for=198.51.100.4:8080", None, PROXIES) == "198.51.100.4"


def test_a_proxy_without_headers_is_the_client() -> None:
    assert resolve_client("10.0.0.2", None, None, PROXIES) == "10.0.0.2"


def test_bad_proxy_entries_are_named() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        parse_networks(["10.0.0.0/8", "nope"])
