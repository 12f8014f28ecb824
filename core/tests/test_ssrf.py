"""The SSRF check of tenant URLs: every form of an internal address is refused with its reason,
public ones pass, and the allow setting opens private addresses but never credentials."""

import re

import pytest

from core.errors import InvalidRequest
from core.ssrf import address_refusal, validate_upstream_base_url
from tests.support.network_fakes import install_fake_dns

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


@pytest.fixture
def strict(settings):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = False


@pytest.fixture
def dns(monkeypatch):
    return install_fake_dns(monkeypatch)


REFUSED = [
    # plain http
    ("http://api.example.com/v1", "https"),
    ("http://8.8.8.8/v1", "https"),
    # loopback, in every spelling a resolver accepts
    ("https://127.0.0.1/v1", "loopback"),
    ("https://127.0.0.1./v1", "loopback"),
    ("https://127.8.9.10:8443/v1", "loopback"),
    ("https://127.1/v1", "canonical IPv4"),
    ("https://2130706433/v1", "canonical IPv4"),
    ("https://0177.0.0.1/v1", "canonical IPv4"),
    ("https://0x7f.1/v1", "canonical IPv4"),
    ("https://0x7f000001/v1", "canonical IPv4"),
    ("https://localhost/v1", "internal host"),
    ("https://LOCALHOST./v1", "internal host"),
    ("https://api.localhost/v1", "internal host"),
    ("https://[::1]/v1", "loopback"),
    ("https://[0:0:0:0:0:0:0:1]/v1", "loopback"),
    # private
    ("https://10.0.0.5/v1", "private"),
    ("https://172.16.3.4/v1", "private"),
    ("https://172.31.255.254/v1", "private"),
    ("https://192.168.1.10/v1", "private"),
    ("https://[fd00::1]/v1", "private"),
    # link-local and cloud metadata
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://169.254.1.1/v1", "link-local"),
    ("https://[fe80::1]/v1", "link-local"),
    ("https://[fe80::1%25eth0]/v1", "link-local"),
    ("https://metadata.google.internal/computeMetadata/v1", "internal host"),
    ("https://metadata/computeMetadata/v1", "internal host"),
    ("https://printer.local/v1", "internal host"),
    # carrier-grade NAT, unspecified, multicast, reserved
    ("https://100.64.0.1/v1", "carrier-grade NAT"),
    ("https://100.127.255.254/v1", "carrier-grade NAT"),
    ("https://0.0.0.0/v1", "unspecified"),
    ("https://[::]/v1", "unspecified"),
    ("https://224.0.0.1/v1", "multicast"),
    ("https://[ff02::1]/v1", "multicast"),
    ("https://240.0.0.1/v1", "reserved"),
    ("https://255.255.255.255/v1", "reserved"),
    ("https://192.0.2.10/v1", "private"),
    # IPv4 inside IPv6: mapped, compatible, NAT64, 6to4, Teredo
    ("https://[::ffff:127.0.0.1]/v1", "loopback"),
    ("https://[::ffff:7f00:1]/v1", "loopback"),
    ("https://[::ffff:10.0.0.1]/v1", "private"),
    ("https://[::ffff:169.254.169.254]/v1", "link-local"),
    ("https://[::127.0.0.1]/v1", "reserved"),
    ("https://[64:ff9b::7f00:1]/v1", "loopback"),
    ("https://[64:ff9b::10.1.2.3]/v1", "private"),
    ("https://[64:ff9b::169.254.169.254]/v1", "link-local"),
    ("https://[64:ff9b:1::a00:1]/v1", "NAT64"),
    ("https://[2002:7f00:1::1]/v1", "loopback"),
    ("https://[2002:c0a8:101::1]/v1", "private"),
    ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/v1", "Teredo"),
    # credentials and hosts that parsers could read differently
    ("https://user:pw@api.example.com/v1", "credentials"),
    ("https://user@api.example.com/v1", "credentials"),
    ("https://api.openai.com@evil.example/v1", "credentials"),
    ("https://api.openai.com:443@127.0.0.1/v1", "credentials"),
    ("https://evil.example\\@api.openai.com/v1", "backslashes"),
    ("https://evil.example\\.api.openai.com/v1", "backslashes"),
    ("https://api.example.com /v1", "spaces"),
    ("https://api.example.com\t/v1", "spaces"),
    ("https://%31%32%37.0.0.1/v1", "valid host name"),
    ("https://api_internal.example.com/v1", "valid host name"),
    ("https://\u0430pi.example.com/v1", "plain http(s) URL"),  # a Cyrillic a
    ("https://[::1/v1", "http(s) URL"),
    ("https://api.example.com:99999/v1", "invalid port"),
    ("https://api.example.com:0x1bb/v1", "invalid port"),
    # not http(s)
    ("ftp://api.example.com/v1", "http(s) URL"),
    ("file:///etc/passwd", "http(s) URL"),
    ("gopher://127.0.0.1:6379/_INFO", "http(s) URL"),
    ("//api.example.com/v1", "http(s) URL"),
    ("api.example.com/v1", "http(s) URL"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_internal_and_odd_urls_are_refused_with_the_reason(strict, url, reason):
    with pytest.raises(InvalidRequest, match=re.escape(reason)) as refused:
        validate_upstream_base_url(url, resolve=False)
    assert refused.value.message.startswith("base_url ")


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8/v1",
        "https://8.8.8.8:8443/v1",
        f"https://[{PUBLIC_V6}]/v1",
        "https://[::ffff:8.8.8.8]/v1",  # a mapped public address is that address
        "https://[64:ff9b::808:808]/v1",  # NAT64 of a public address
        "https://api.openai.com./v1",
        "https://API.Example.COM/openai/v1?api-version=2025-01-01",
        "https://xn--bcher-kva.example/v1",
    ],
)
def test_public_urls_pass(strict, url):
    assert validate_upstream_base_url(url, resolve=False) == url


@pytest.mark.parametrize(
    ("addresses", "reason"),
    [
        (["127.0.0.1"], "loopback"),
        (["::1"], "loopback"),
        (["10.1.2.3"], "private"),
        (["169.254.169.254"], "link-local"),
        (["100.100.100.200"], "carrier-grade NAT"),  # a cloud metadata address in CGNAT space
        (["::ffff:127.0.0.1"], "loopback"),
        (["64:ff9b::a9fe:a9fe"], "link-local"),
        (["0.0.0.0"], "unspecified"),
        ([PUBLIC_V4, "10.0.0.1"], "private"),  # one internal address among public ones
        ([PUBLIC_V6, "fe80::1"], "link-local"),
    ],
)
def test_host_names_resolving_to_internal_addresses_are_refused(strict, dns, addresses, reason):
    dns.answer("innocent.example.com", *addresses)
    with pytest.raises(InvalidRequest, match=f"resolves to .*{reason}"):
        validate_upstream_base_url("https://innocent.example.com/v1")
    assert dns.lookups == ["innocent.example.com"]


def test_host_name_resolving_to_public_addresses_passes(strict, dns):
    dns.answer("api.example.com", PUBLIC_V4, PUBLIC_V6)
    assert validate_upstream_base_url("https://api.example.com/v1")


def test_host_name_that_does_not_resolve_is_refused(strict, dns):
    dns.answer("gone.example.com")
    with pytest.raises(InvalidRequest, match="does not resolve"):
        validate_upstream_base_url("https://gone.example.com/v1")


def test_without_resolve_no_name_is_looked_up(strict, dns):
    dns.answer("api.example.com", "127.0.0.1")
    assert validate_upstream_base_url("https://api.example.com/v1", resolve=False)
    assert dns.lookups == []


def test_platform_setting_allows_local_upstreams_but_never_credentials(settings, dns):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = True
    dns.answer("model.internal", "10.0.0.7")
    for url in (
        "http://127.0.0.1:9999/v1",
        "http://localhost:11434/v1",
        "https://10.0.0.5/v1",
        "http://model.internal/v1",
    ):
        assert validate_upstream_base_url(url) == url
    for url in ("file:///etc/passwd", "http://user:pw@127.0.0.1/v1", "http://a\\@b/v1"):
        with pytest.raises(InvalidRequest):
            validate_upstream_base_url(url)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("1.1.1.1", False),
        (PUBLIC_V6, False),
        ("2002:808:808::1", False),  # 6to4 of a public address
        ("127.0.0.1", True),
        ("172.20.0.1", True),
        ("::ffff:192.168.0.1", True),
        ("2002:a9fe:a9fe::1", True),
    ],
)
def test_address_refusal(address, refused):
    assert (address_refusal(address) is not None) is refused
