"""Checks that a tenant-supplied URL (a BYOK base URL, an alert webhook) cannot reach internal
addresses (SSRF).

Refused unless TOLLGATE_ALLOW_PRIVATE_UPSTREAMS is on (tests with a local mock upstream,
self-hosted models): plain http; loopback, private, link-local (cloud metadata lives there),
carrier-grade NAT, multicast, reserved and unspecified addresses, also when written as a
legacy IPv4 number (`127.1`, `2130706433`, `0177.0.0.1`, `0x7f.1`) or embedded in an IPv6
address (IPv4-mapped, NAT64, 6to4, Teredo); internal host names; and a host name any of whose
addresses is one of those. Always refused: credentials in the URL (`user@host`, `host@evil`)
and a host that is not a plain DNS name or IP literal (percent-escapes, backslashes, spaces),
so that every URL parser on the way reads the same host.

Saving checks the URL and the addresses its host resolves to now; the upstream client checks
again when it connects (llm/providers/upstream_guard.py) and connects only to an address it
checked. Base URLs set by the operator (catalog, TOLLGATE_<PROVIDER>_BASE_URL) are trusted and
never pass through here.
"""

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from core.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_BLOCKED_HOSTNAMES = frozenset({"localhost", "metadata", "metadata.google.internal"})
_BLOCKED_SUFFIXES = (".localhost", ".localdomain", ".internal", ".local")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# A last label that is a number makes the host an IPv4 address to URL parsers and resolvers.
_HOST_CHARS = re.compile(r"[a-z0-9.-]+")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known prefix, IPv4 in the low 32 bits
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # local-use: never a public provider
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


@dataclass(frozen=True)
class UrlTarget:
    """Where a URL points: scheme, host (lower case, no brackets or trailing dot) and port."""

    scheme: str
    host: str
    port: int
    address: IPAddress | None  # the host when it is an IP literal


def address_refusal(address: str | IPAddress) -> str | None:
    """Why a client must not connect to this address (e.g. "a loopback address"), or None when
    it is a public one. An IPv4 address embedded in an IPv6 one is judged as itself."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL or ip.teredo is not None:
            return "a NAT64 or Teredo address"
        embedded = ip.ipv4_mapped or ip.sixtofour
        if ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = _refusal(embedded)
            if reason or ip in _NAT64 or ip.ipv4_mapped:
                return reason
    return _refusal(ip)


def _refusal(ip: IPAddress) -> str | None:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a carrier-grade NAT address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    return None


def url_target(url: str) -> UrlTarget:
    """The scheme, host and port of an http(s) URL; InvalidRequest when it has credentials or a
    host that parsers could read differently (checked whatever the allow setting)."""
    if not isinstance(url, str) or not url.isascii() or _UNSAFE_URL_CHARS.search(url):
        raise InvalidRequest("base_url must be a plain http(s) URL (no spaces or backslashes).")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        hostname = None
    if not hostname or parts.scheme.lower() not in ("https", "http"):
        raise InvalidRequest("base_url must be an http(s) URL with a host.")
    if "@" in parts.netloc:
        raise InvalidRequest("base_url must not contain credentials (user@host).")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise InvalidRequest("base_url has an invalid port.") from None
    host = hostname.rstrip(".")
    return UrlTarget(parts.scheme.lower(), host, port, _host_address(host))


def _host_address(host: str) -> IPAddress | None:
    """The host as an IP address; None for a DNS name; InvalidRequest for anything else."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidRequest("base_url has an invalid IPv6 address.") from None
    if not _HOST_CHARS.fullmatch(host):
        raise InvalidRequest("base_url host is not a valid host name (use punycode for IDNs).")
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            address = None
        if address is None or str(address) != host:
            raise InvalidRequest(
                "base_url host is not a canonical IPv4 address (write it as a.b.c.d)."
            )
        return address
    if not _DNS_NAME.fullmatch(host):
        raise InvalidRequest("base_url host is not a valid host name (use punycode for IDNs).")
    return None


def target_check(target: UrlTarget) -> None:
    """Refuse what the URL itself shows (scheme, internal names, a non-public IP literal);
    nothing when TOLLGATE_ALLOW_PRIVATE_UPSTREAMS is on."""
    if settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS:
        return
    if target.scheme != "https":
        raise InvalidRequest("base_url must use https.")
    if target.host in _BLOCKED_HOSTNAMES or target.host.endswith(_BLOCKED_SUFFIXES):
        raise InvalidRequest("base_url points at an internal host.")
    if target.address is not None:
        reason = address_refusal(target.address)
        if reason:
            raise InvalidRequest(f"base_url points at {reason}.")


def resolve_host(host: str, port: int) -> list[tuple[int, str]]:
    """(family, address) for each address of `host`, in the resolver's order, without repeats.
    The one name lookup of the save-time and connect-time checks (tests patch getaddrinfo)."""
    found: list[tuple[int, str]] = []
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        item = (family, str(sockaddr[0]))
        if item not in found:
            found.append(item)
    return found


def addresses_check(addresses: Iterable[str]) -> None:
    """Refuse when any address of a host is not public: a name with one internal address
    among public ones is refused too (a client may pick any of them)."""
    for address in addresses:
        reason = address_refusal(address)
        if reason:
            raise InvalidRequest(f"base_url host resolves to {reason}.")


def validate_upstream_base_url(url: str, *, resolve: bool = True) -> str:
    """Return the URL when it is safe to call; raise InvalidRequest naming the problem otherwise.
    With `resolve`, a host name must resolve, and only to public addresses."""
    target = url_target(url)
    target_check(target)
    if settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS or not resolve or target.address is not None:
        return url
    try:
        addresses = [address for _family, address in resolve_host(target.host, target.port)]
    except (OSError, UnicodeError) as exc:
        raise InvalidRequest("base_url host does not resolve.") from exc
    addresses_check(addresses)
    return url
