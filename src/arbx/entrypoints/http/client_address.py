"""The client's address: the TCP peer, or what trusted proxies say it is.

``X-Forwarded-For`` and ``Forwarded`` are client-controlled text, so they count only when the
TCP peer is one of the configured proxies (``[http] trusted_proxies``: addresses or CIDR
networks; empty by default, so the headers are ignored). Then the chain is read from the
right, skipping trusted hops: the first untrusted address is the client (a client may prepend
anything it likes, but cannot remove what the proxies appended).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_FOR = re.compile(r'for\s*=\s*"?([^";,]+)"?', re.IGNORECASE)


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "127.0.0.1"]`` -> networks; raises ValueError naming a bad entry."""
    found: list[Network] = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"trusted_proxies entry {entry!r} is not an IP address or CIDR network"
            ) from None
    return tuple(found)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    host = text.strip()
    if host.startswith("["):  # [v6]:port
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:  # v4:port
        host = host.split(":", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _trusted(text: str, proxies: Sequence[Network]) -> bool:
    address = _address(text)
    return address is not None and any(address in net for net in proxies)


def forwarded_chain(forwarded: str | None, x_forwarded_for: str | None) -> list[str]:
    """The hops the proxies reported, oldest first (``Forwarded`` wins when present)."""
    if forwarded:
        return [m.group(1).strip() for m in _FOR.finditer(forwarded)]
    if x_forwarded_for:
        return [part.strip() for part in x_forwarded_for.split(",") if part.strip()]
    return []


def resolve_client(
    peer: str | None,
    forwarded: str | None,
    x_forwarded_for: str | None,
    proxies: Sequence[Network],
) -> str | None:
    """The client address for a request from ``peer`` with these headers."""
    if peer is None or not proxies or not _trusted(peer, proxies):
        return peer
    chain = forwarded_chain(forwarded, x_forwarded_for)
    for hop in reversed(chain):
        if not _trusted(hop, proxies):
            address = _address(hop)
            return str(address) if address is not None else hop[:64]
    if chain:  # every hop is a proxy: the oldest one is as close to the client as we get
        address = _address(chain[0])
        return str(address) if address is not None else peer
    return peer
