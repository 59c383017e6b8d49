"""Which addresses and payload URLs a webhook may send to."""

import ipaddress

import pytest

from hooks.destinations import (
    MAX_URL_LENGTH,
    DestinationError,
    address_refusal,
    check_payload_url,
    host_as_address,
)

# --- address_refusal ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.1", "private or reserved"),
        ("172.16.0.1", "private or reserved"),
        ("192.168.1.1", "private or reserved"),
        ("100.64.0.1", "private or reserved"),  # carrier-grade NAT
        ("169.254.169.254", "cloud metadata service"),
        ("169.254.170.2", "cloud metadata service"),
        ("100.100.100.200", "cloud metadata service"),
        ("fd00:ec2::254", "cloud metadata service"),
        ("169.254.1.1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "private or reserved"),
        ("255.255.255.255", "private or reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private or reserved"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "private or reserved"),
    ],
)
def test_refused_addresses(address, reason):
    refusal = address_refusal(ipaddress.ip_address(address))

    assert refusal is not None
    assert reason in refusal
    assert str(ipaddress.ip_address(address)) in refusal


def test_the_metadata_refusal_says_what_it_protects():
    refusal = address_refusal(ipaddress.ip_address("169.254.169.254"))

    assert refusal == "169.254.169.254 is a cloud metadata service address"


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1 is a loopback address"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "10.0.0.1 is a private or reserved address"),
        ("::ffff:169.254.169.254", "169.254.169.254 is a cloud metadata service address"),
        ("64:ff9b::7f00:1", "127.0.0.1 is a loopback address"),  # NAT64
        ("64:ff9b::a9fe:a9fe", "169.254.169.254 is a cloud metadata service address"),
        ("2002:7f00:1::", "127.0.0.1 is a loopback address"),  # 6to4
        ("2002:c0a8:101::", "192.168.1.1 is a private or reserved address"),
        # Teredo whose client address is 10.0.0.1 (stored inverted: ~0x0a000001)
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "10.0.0.1 is a private or reserved address"),
    ],
)
def test_ipv6_forms_carrying_a_refused_ipv4_address_are_refused(address, inner):
    refusal = address_refusal(ipaddress.ip_address(address))

    assert refusal == f"{inner} (inside IPv6 address {ipaddress.ip_address(address)})"


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"],
)
def test_allowed_addresses(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::"])
def test_ipv6_forms_carrying_a_public_ipv4_address_are_allowed(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", ["64:ff9b:1::a00:1", "::7f00:1", "fec0::1"])
def test_reserved_and_site_local_ipv6_ranges_are_refused(address):
    assert address_refusal(ipaddress.ip_address(address)) is not None


# --- host_as_address ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ],
)
def test_host_as_address_reads_every_numeric_spelling(host, address):
    assert host_as_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "localhost", "hooks.example.com", "1.2.3.4.5"])
def test_host_as_address_is_none_for_names(host):
    assert host_as_address(host) is None


# --- check_payload_url ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://2130706433/", "127.0.0.1 is a loopback address"),
        ("http://0x7f000001/", "127.0.0.1 is a loopback address"),
        ("http://0177.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://127.1/", "127.0.0.1 is a loopback address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1 is a loopback address (inside IPv6"),
        ("http://0.0.0.0/", "0.0.0.0 is the unspecified address"),
        ("http://10.1.2.3:8080/x", "10.1.2.3 is a private or reserved address"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata service"),
        ("http://localhost/", "localhost is a loopback host name"),
        ("http://LOCALHOST:8000/", "localhost is a loopback host name"),
        ("http://api.localhost/", "api.localhost is a loopback host name"),
    ],
)
def test_private_destinations_are_refused(url, message):
    with pytest.raises(DestinationError) as excinfo:
        check_payload_url(url, allow_private=False)

    assert message in str(excinfo.value)


@pytest.mark.parametrize("url", ["http://localhost./", "http://127.0.0.1./"])
def test_a_trailing_dot_does_not_hide_a_loopback_host(url):
    with pytest.raises(DestinationError, match="loopback"):
        check_payload_url(url, allow_private=False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "scheme must be http or https"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("javascript:alert(1)", "scheme must be http or https"),
        ("gopher://example.com/", "scheme must be http or https"),
        ("//example.com/hook", "scheme must be http or https"),
        ("http://u:p@example.com/", "must not contain credentials"),
        ("http://user@example.com/", "must not contain credentials"),
        ("http://example.com/a b", "whitespace or control characters"),
        ("http://example.com/\r\nX-Injected: 1", "whitespace or control characters"),
        ("http://example.com/\n", "whitespace or control characters"),
        ("http://example.com/\t", "whitespace or control characters"),
        ("http://example.com/\x00", "whitespace or control characters"),
        (" http://example.com/", "whitespace or control characters"),
        ("http:///path", "no host"),
        ("http://", "no host"),
        ("http://:8080/", "no host"),
        ("http://example.com:0/", "port must be between 1 and 65535"),
        ("http://example.com:99999/", "malformed"),
        ("http://[::1/", "malformed"),
    ],
)
def test_malformed_urls_are_refused_even_when_private_is_allowed(url, message):
    for allow_private in (False, True):
        with pytest.raises(DestinationError) as excinfo:
            check_payload_url(url, allow_private=allow_private)

        assert message in str(excinfo.value)


def test_overlong_urls_are_refused():
    url = "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/") + 1)
    assert len(url) == MAX_URL_LENGTH + 1

    with pytest.raises(DestinationError, match="longer than 2048 characters"):
        check_payload_url(url, allow_private=False)


def test_a_url_of_exactly_the_maximum_length_is_accepted():
    url = "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/"))
    assert len(url) == MAX_URL_LENGTH

    check_payload_url(url, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "http://hooks.example.com:8080/x",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "http://receiver/",  # an internal name: vetted when it is resolved, at send time
    ],
)
def test_public_destinations_are_accepted(url):
    check_payload_url(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/", "http://localhost:8080/hook", "http://10.0.0.5/"]
)
def test_private_destinations_are_accepted_when_allowed(url):
    check_payload_url(url, allow_private=True)
