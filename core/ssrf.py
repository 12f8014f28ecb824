"""Checks that a tenant-supplied upstream base URL cannot reach internal addresses (SSRF).

Loopback, private, link-local (cloud metadata lives there), multicast, reserved and unspecified
addresses are refused unless TOLLGATE_ALLOW_PRIVATE_UPSTREAMS is on (tests with a local mock
upstream, self-hosted models). Every address a host name resolves to must be public.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from core.errors import InvalidRequest

_BLOCKED_HOSTNAMES = {"localhost", "metadata.google.internal", "metadata"}


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def validate_upstream_base_url(url: str, *, resolve: bool = True) -> str:
    """Return the URL when it is safe to call; raise InvalidRequest naming the problem otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidRequest("base_url must be an http(s) URL with a host.")
    if parts.username or parts.password:
        raise InvalidRequest("base_url must not contain credentials.")
    if settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS:
        return url
    if parts.scheme != "https":
        raise InvalidRequest("base_url must use https.")
    host = parts.hostname.lower().rstrip(".")
    if host in _BLOCKED_HOSTNAMES or host.endswith((".localhost", ".internal", ".local")):
        raise InvalidRequest("base_url points at an internal host.")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = []
        if resolve:
            try:
                infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
            except OSError as exc:
                raise InvalidRequest("base_url host does not resolve.") from exc
            addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not all(_is_public(address) for address in addresses):
        raise InvalidRequest("base_url points at a private, loopback or link-local address.")
    return url
