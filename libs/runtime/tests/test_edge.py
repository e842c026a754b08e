"""The client's address behind trusted proxies, and network allow-lists (figsync_runtime.edge)."""

import pytest
from starlette.requests import HTTPConnection

from figsync_runtime.edge import EdgeSettings, allowed, client_address, parse_networks

pytestmark = pytest.mark.unit


def conn(peer: str, forwarded: str | None = None) -> HTTPConnection:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return HTTPConnection({"type": "http", "headers": headers, "client": (peer, 1234)})


def test_forwarded_for_is_believed_only_as_far_as_the_trusted_hops():
    assert client_address(conn("10.0.0.1", "6.6.6.6"), 0) == "10.0.0.1"
    # One proxy appends the address it saw; what the client wrote to its left is a claim.
    assert client_address(conn("10.0.0.1", "6.6.6.6, 203.0.113.9"), 1) == "203.0.113.9"
    assert client_address(conn("10.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.2"), 2) == "203.0.113.9"
    # Fewer entries than trusted proxies: the request did not come through them all.
    assert client_address(conn("10.0.0.1", "203.0.113.9"), 2) == "10.0.0.1"
    assert client_address(conn("10.0.0.1", " , "), 1) == "10.0.0.1"


def test_networks_are_cidrs_and_an_empty_list_allows_everyone():
    networks = parse_networks(["10.0.0.0/8", " 192.0.2.7 ", "", "2001:db8::/32"])
    assert [str(n) for n in networks] == ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
    assert allowed("10.200.0.1", networks) and allowed("192.0.2.7", networks)
    assert allowed("2001:db8::5", networks) and allowed("::ffff:10.0.0.1", networks)
    assert not allowed("192.0.2.8", networks) and not allowed("unknown", networks)
    assert not allowed("not an address", networks)
    assert allowed("anything", ())
    for bad in ["10.0.0.0/33", "example.com", "10.0.0.0/8; drop", "1.2.3"]:
        with pytest.raises(ValueError, match="CIDR"):
            parse_networks([bad])


def test_the_allowed_networks_setting_reads_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("FIGSYNC_ALLOWED_NETWORKS", "10.0.0.0/8, 192.168.1.5 ,2001:db8::/32")
    monkeypatch.setenv("FIGSYNC_TRUSTED_PROXY_HOPS", "1")
    settings = EdgeSettings()
    assert settings.allowed_networks == ["10.0.0.0/8", "192.168.1.5/32", "2001:db8::/32"]
    assert settings.trusted_proxy_hops == 1
    monkeypatch.setenv("FIGSYNC_ALLOWED_NETWORKS", "10.0.0.0/33")
    with pytest.raises(ValueError, match="CIDR"):
        EdgeSettings()
