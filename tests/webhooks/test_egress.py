"""Which addresses webhooks may go to, read the way libc reads them (no database, no network)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from tenure.api.errors import InvalidRequest
from tenure.webhooks import egress

from .conftest import FakeDns


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("example.com", None),
        ("0x7f000001.example.com", None),
        ("localhost", None),
    ],
)
def test_hosts_are_read_as_libc_reads_them(host: str, address: str | None) -> None:
    expected = None if address is None else ipaddress.ip_address(address)
    assert egress.literal_address(host) == expected
    if expected is not None and expected.version == 4:
        assert socket.inet_aton(host) == expected.packed  # the reading libc itself gives


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.1.2.3", "private"),
        ("192.0.2.1", "private"),  # documentation
        ("198.18.0.1", "private"),  # benchmarking
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
        ("2001:db8::1", "private"),  # documentation
        ("fec0::1", "site-local"),  # deprecated, and is_global says yes
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("100.63.255.255", None),
        ("100.128.0.0", None),
        ("172.32.0.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert egress.address_kind(ipaddress.ip_address(address)) == kind


def test_check_url_refuses_literal_and_resolved_internal_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDns(names={"hooks.example.test": ["93.184.216.34"], "inside.example.test": ["10.0.0.1"]}).install(
        monkeypatch
    )
    for url in (
        "http://0x7f000001/",
        "http://[::1]:6379/",
        "http://inside.example.test/",
        "http://localhost/",
    ):
        with pytest.raises(InvalidRequest) as refused:
            egress.check_url(url, allow_private=False)
        assert refused.value.param == "url"
        egress.check_url(url, allow_private=True)
    egress.check_url("https://hooks.example.test/tenure", allow_private=False)
    egress.check_url("https://unknown.example.test/tenure", allow_private=False)  # checked at delivery
