"""Which payload URLs and addresses a webhook may send to.

Two checks, both here so they cannot drift apart:
- `check_payload_url` when a webhook is saved: scheme, length, characters,
  credentials in the URL, and hosts written as addresses (in any spelling).
- `address_refusal` when a request is about to connect (deliveries/http.py):
  the address the host name resolved to, just before connecting to it.
A host name that resolves to a private address passes the first and is
caught by the second.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services, named so a refusal can say what it protected.
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Local-use NAT64 (RFC 8215): Python 3.11 still calls it global.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class DestinationError(ValueError):
    """A payload URL or address a webhook may not send to; the message says why."""


def address_refusal(address: IPAddress) -> str | None:
    """Why `address` may not be connected to, or None when it may.

    Refuses everything that is not a globally routable unicast address:
    loopback, private, carrier-grade NAT, link-local (and the metadata
    services there), multicast, reserved, unspecified; and IPv6 forms that
    carry such an IPv4 address inside (IPv4-mapped, NAT64, 6to4, Teredo).
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (address in _NAT64 or address in _NAT64_LOCAL):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is not None:
            reason = address_refusal(embedded)
            return f"{reason} (inside IPv6 address {address})" if reason else None
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata service address"
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return f"{address} is a site-local address"
    if address.is_private or address.is_reserved or not address.is_global:
        return f"{address} is a private or reserved address"
    return None


def host_as_address(host: str) -> IPAddress | None:
    """The address a host written as a number means, in any spelling.

    Resolvers (and curl) accept more than dotted quads: 2130706433,
    0x7f000001, 0177.0.0.1 and 127.1 all mean 127.0.0.1. inet_aton is the
    parser they share, so ask it rather than reimplement it.
    """
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_payload_url(url: str, *, allow_private: bool) -> None:
    """Raise DestinationError saying what is wrong with `url`, if anything."""
    if len(url) > MAX_URL_LENGTH:
        raise DestinationError(f"URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise DestinationError("URL must not contain whitespace or control characters.")
    if not url.isascii():
        raise DestinationError(
            "URL must be ASCII: percent-encode the path and write the host in punycode."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationError(f"URL is malformed: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise DestinationError("URL scheme must be http or https.")
    if parts.username is not None or parts.password is not None:
        raise DestinationError(
            "URL must not contain credentials; use the listener credentials fields."
        )
    # "localhost." and "127.0.0.1." are the same hosts to a resolver.
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise DestinationError("URL has no host.")
    is_ipv6 = ":" in host  # urlsplit drops the brackets
    if not is_ipv6 and any(not label or len(label) > 63 for label in host.split(".")):
        raise DestinationError(f"{host!r} is not a valid host name.")
    if port == 0:
        raise DestinationError("URL port must be between 1 and 65535.")
    if allow_private:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise DestinationError(f"{host} is a loopback host name.")
    address = host_as_address(host)
    if address is not None:
        reason = address_refusal(address)
        if reason:
            raise DestinationError(f"Destination not allowed: {reason}.")
