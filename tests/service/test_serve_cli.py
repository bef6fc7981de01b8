"""``driftrec serve`` keeps an API without keys on localhost."""

from __future__ import annotations

from driftrec.cli.serve import _is_loopback, bind_host


def test_loopback_hosts():
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.4")
    assert not _is_loopback("example.org")


def test_without_keys_the_service_binds_to_localhost_and_says_so(caplog):
    assert bind_host("0.0.0.0", auth_enabled=False) == "127.0.0.1"
    assert "no API keys configured" in caplog.text
    assert bind_host("0.0.0.0", auth_enabled=True) == "0.0.0.0"
    assert bind_host("::1", auth_enabled=False) == "::1"
