"""Which hosts a download may connect to: public addresses, and what the pipeline file allows by name or range.

    >>> policy = HostPolicy(("127.0.0.1", "media.lab.example"))
    >>> policy.refusal("10.0.0.7", "10.0.0.7")
    '10.0.0.7 is a private address; refused by the host policy (allow_hosts)'
    >>> policy.refusal("127.0.0.1", "127.0.0.1"), policy.refusal("media.lab.example", "10.0.0.7")
    ('', '')

Links come from other people's lists, and a link or a redirect to a private, link-local (cloud
metadata at 169.254.169.254), loopback or otherwise non-public address would reach machines inside
the network the crawl runs in. So every connection is checked at the moment its host name is
resolved: ``enforced(policy)`` wraps ``socket.getaddrinfo``, through which every HTTP library under
yt-dlp resolves every host, first request and every redirect alike, and keeps only addresses the
policy allows, so the address checked is the address connected to (no second lookup to rebind).

``allow`` entries are host names (``media.lab.example``; ``*.lab.example`` for its subdomains),
addresses (``127.0.0.1``) or ranges (``10.0.0.0/8``, ``fd00::/8``). Nothing non-public is allowed by
default, not even loopback: the synthetic source's own server on 127.0.0.1 is allowed by its
pipeline file (``allow_hosts = ["127.0.0.1"]`` in the download stage).
"""
from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from dataclasses import dataclass
from typing import Iterator

REFUSED = "refused by the host policy"
_lock = threading.Lock()


class HostRefused(OSError):
    """A connection the host policy does not allow; its text is the reason, for the manifest."""


@dataclass(frozen=True)
class HostPolicy:
    allow: tuple[str, ...] = ()  # host names, *.suffixes, addresses or ranges that may be non-public

    def __post_init__(self) -> None:
        for entry in self.allow:
            if not isinstance(entry, str) or not entry.strip() or entry != entry.strip():
                raise ValueError(f"allow_hosts entries must be host names, addresses or ranges, got {entry!r}")
            if "/" in entry or _is_address(entry):
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError as error:
                    raise ValueError(f"allow_hosts entry {entry!r} is not an address range: {error}") from None

    def refusal(self, host: str, address: str) -> str:
        """"" when a connection to ``address`` (one of ``host``'s addresses) is allowed, else the reason."""
        ip = _unmapped(ipaddress.ip_address(address.split("%", 1)[0]))
        if ip.is_global and not ip.is_multicast:
            return ""
        name = host.lower().rstrip(".")
        for entry in self.allow:
            if "/" in entry or _is_address(entry):
                if ip in ipaddress.ip_network(entry, strict=False):
                    return ""
            elif name == entry.lower() or (entry.startswith("*.") and name.endswith(entry[1:].lower())):
                return ""
        said = f"{address} is" if name == address.lower() else f"{host} resolves to {address},"
        return f"{said} {_kind(ip)}; {REFUSED} (allow_hosts)"


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _unmapped(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4-mapped IPv6 address (::ffff:10.0.0.1) as the IPv4 address it stands for."""
    return ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if str(ip) in ("169.254.169.254", "fd00:ec2::254"):
        return "a cloud metadata address"
    for test, words in (("is_loopback", "a loopback address"), ("is_link_local", "a link-local address"),
                        ("is_unspecified", "an unspecified address"), ("is_multicast", "a multicast address"),
                        ("is_private", "a private address"), ("is_reserved", "a reserved address")):
        if getattr(ip, test):
            return words
    return "a non-public address"


@contextlib.contextmanager
def enforced(policy: HostPolicy) -> Iterator[None]:
    """Within the block, every host name this process resolves yields only the addresses ``policy``
    allows; a host with none left raises HostRefused. One block at a time per process (downloads
    run one per worker process)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN202 - socket.getaddrinfo's signature
        results = real(host, port, *args, **kwargs)
        name = host.decode() if isinstance(host, bytes) else str(host)
        allowed, refusals = [], []
        for result in results:
            refusal = policy.refusal(name, result[4][0])
            (refusals if refusal else allowed).append(refusal or result)
        if not allowed and refusals:
            raise HostRefused(refusals[0])
        return allowed

    with _lock:
        socket.getaddrinfo = getaddrinfo
        try:
            yield
        finally:
            socket.getaddrinfo = real
