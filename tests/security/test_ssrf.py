"""Tracking links in mail are untrusted input that the figma service turns into outbound
requests. Whatever the link, the only requests ever sent go over https to a Figma host that
resolves to public addresses only, one hop at a time, a few hops at most.

DNS is replaced by a table and HTTP by a recording transport, so every request that *would*
have left the process is visible, and the tests need no network."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import httpx
import pytest

from figsync_figma.links import LinkPolicy, LinkRefused, link_client, resolve_tracking_link

pytestmark = pytest.mark.unit

PUBLIC = "151.101.1.195"
KEY = "Xk3pQ9dLm2RtV8bNc4HsZa"
FILE_URL = f"https://www.figma.com/design/{KEY}/Onboarding"
CLICK = "https://click.figma.com/ls/click?upn=abc"


class Net:
    """A fake resolver and a recording HTTP transport."""

    def __init__(self) -> None:
        self.dns: dict[str, list[str]] = {
            host: [PUBLIC]
            for host in ("click.figma.com", "www.figma.com", "figma.com", "email.figma.com")
        }
        self.routes: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.sent: list[str] = []
        self.resolved: list[str] = []

    async def getaddrinfo(self, host, port, *args, **kwargs):
        self.resolved.append(host)
        if host not in self.dns:
            raise socket.gaierror(socket.EAI_NONAME, "unknown host")
        family = lambda a: socket.AF_INET6 if ":" in a else socket.AF_INET  # noqa: E731
        return [(family(a), socket.SOCK_STREAM, 6, "", (a, port)) for a in self.dns[host]]

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.sent.append(url)
        for prefix, answer in self.routes.items():
            if url.startswith(prefix):
                return answer(request)
        return httpx.Response(404)

    def redirect(self, source: str, target: str) -> None:
        self.routes[source] = lambda _: httpx.Response(302, headers={"location": target})


@pytest.fixture
async def net(monkeypatch) -> Net:
    fake = Net()
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake.getaddrinfo)
    return fake


async def follow(net: Net, url: str, policy: LinkPolicy | None = None) -> str:
    async with httpx.AsyncClient(transport=httpx.MockTransport(net.handle)) as http:
        return await resolve_tracking_link(url, http, policy or LinkPolicy())


async def refused(net: Net, url: str, policy: LinkPolicy | None = None) -> str:
    with pytest.raises(LinkRefused) as error:
        await follow(net, url, policy)
    return str(error.value).split(":")[0]


def only_figma_over_https(net: Net) -> None:
    for url in net.sent:
        parsed = httpx.URL(url)
        assert parsed.scheme == "https" and parsed.host in LinkPolicy().allowed_hosts, url


async def test_the_happy_path_follows_one_hop_to_the_file(net):
    net.redirect(CLICK, FILE_URL)
    assert await follow(net, CLICK) == FILE_URL
    assert net.sent == [CLICK]


@pytest.mark.parametrize(
    "url",
    [
        "http://click.figma.com/ls/click?upn=abc",
        "ftp://click.figma.com/x",
        "file:///etc/passwd",
        "gopher://click.figma.com:70/_x",
        "//click.figma.com/ls/click",
    ],
)
async def test_non_https_schemes_are_never_requested(net, url):
    assert await refused(net, url) == "link.not_https"
    assert net.sent == [] and net.resolved == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://localhost/",
        "https://[::1]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://2130706433/",
        "https://0x7f.0.0.1/",
        "https://10.0.0.1/",
        "https://click.figma.com.evil.example/ls/click",
        "https://evilfigma.com/ls/click",
        "https://click.figma.com@127.0.0.1/",
        "https://click.figma.com:443@169.254.169.254/",
        "https://click.figma.com%2F@127.0.0.1/",
        "https://click.figma.com\\@127.0.0.1/",
        "https://click.figma.com./ls/click",
    ],
)
async def test_other_hosts_and_literal_addresses_are_never_requested(net, url):
    assert await refused(net, url) in ("link.host_not_allowed", "link.not_https")
    assert net.sent == []


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1@click.figma.com/", "https://evil.example\\@click.figma.com/x"]
)
async def test_user_info_in_a_link_is_refused(net, url):
    assert await refused(net, url) == "link.credentials_in_url"
    assert net.sent == []


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["172.16.0.1"],
        ["192.168.1.1"],
        ["169.254.169.254"],
        ["100.64.0.1"],
        ["0.0.0.0"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["fc00::1"],
        ["fe80::1"],
        ["224.0.0.1"],
        [PUBLIC, "10.0.0.7"],  # one private record among public ones is enough to refuse
    ],
)
async def test_a_figma_host_resolving_to_a_private_address_is_never_requested(net, addresses):
    net.dns["click.figma.com"] = addresses
    assert await refused(net, CLICK) == "link.private_address"
    assert net.sent == []


async def test_an_unresolvable_figma_host_is_refused(net):
    del net.dns["click.figma.com"]
    assert await refused(net, CLICK) == "link.unresolvable"
    assert net.sent == []


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", "link.not_https"),
        ("https://169.254.169.254/latest/meta-data/iam/", "link.host_not_allowed"),
        ("https://localhost:5432/", "link.host_not_allowed"),
        ("https://evil.example/design/" + KEY, "link.host_not_allowed"),
        ("https://user:pw@click.figma.com/next", "link.credentials_in_url"),
        ("file:///etc/passwd", "link.not_https"),
    ],
)
async def test_a_redirect_out_of_bounds_is_not_followed(net, target, code):
    net.redirect(CLICK, target)
    assert await refused(net, CLICK) == code
    assert net.sent == [CLICK]
    only_figma_over_https(net)


async def test_a_redirect_to_a_figma_host_that_resolves_privately_is_not_followed(net):
    net.redirect(CLICK, "https://email.figma.com/next")
    net.dns["email.figma.com"] = ["10.0.0.9"]
    assert await refused(net, CLICK) == "link.private_address"
    assert net.sent == [CLICK]


async def test_relative_redirects_stay_checked(net):
    net.redirect(CLICK, "//127.0.0.1/admin")
    assert await refused(net, CLICK) == "link.host_not_allowed"
    assert net.sent == [CLICK]


async def test_redirect_loops_and_long_chains_end_quickly(net):
    net.redirect(CLICK, "https://click.figma.com/b")
    net.redirect("https://click.figma.com/b", CLICK)
    assert await refused(net, CLICK) == "link.redirect_loop"
    assert len(net.sent) == 2

    chain = Net()
    chain.dns = net.dns
    for n in range(20):
        chain.redirect(f"https://click.figma.com/{n}", f"https://click.figma.com/{n + 1}")
    with pytest.raises(LinkRefused) as error:
        async with httpx.AsyncClient(transport=httpx.MockTransport(chain.handle)) as http:
            await resolve_tracking_link("https://click.figma.com/0", http, LinkPolicy(max_hops=3))
    assert str(error.value).startswith("link.too_many_hops")
    assert len(chain.sent) == 4


async def test_a_link_that_answers_without_redirect_or_hangs_is_refused(net):
    net.routes[CLICK] = lambda _: httpx.Response(200, text="<html>login</html>")
    assert await refused(net, CLICK) == "link.no_redirect"

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    net.routes[CLICK] = hang
    assert await refused(net, CLICK) == "link.unreachable"


async def test_the_figma_service_client_never_follows_redirects_by_itself():
    """The client the service builds for links must not follow redirects on its own (each hop
    is checked by resolve_tracking_link) nor take proxies from the environment."""
    import inspect

    from figsync_figma import bootstrap

    source = inspect.getsource(bootstrap)
    assert "link_http = link_client()" in source
    client = link_client()
    assert client.follow_redirects is False and client.trust_env is False
    await client.aclose()


async def test_dns_rebinding_between_the_check_and_the_connect_reaches_no_private_address(
    monkeypatch,
):
    accepted: list[bool] = []

    async def on_connect(reader, writer):
        accepted.append(True)
        writer.close()

    canary = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = canary.sockets[0].getsockname()[1]
    answers = iter([PUBLIC, "127.0.0.1", "127.0.0.1", "127.0.0.1"])

    async def rebinding(host, port_, *args, **kwargs):
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port_))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", rebinding)
    try:
        async with link_client() as http:  # the client production follows links with
            with pytest.raises(LinkRefused):
                await resolve_tracking_link(
                    f"https://click.figma.com:{port}/ls/click", http, LinkPolicy(timeout=2)
                )
        await asyncio.sleep(0.1)
    finally:
        canary.close()
    assert accepted == [], "a connection reached 127.0.0.1 after the check saw a public address"


async def test_the_link_client_connects_to_the_pinned_address_not_a_fresh_lookup():
    seen: list[bytes] = []

    async def on_connect(reader, writer):
        seen.append(await reader.readline())
        writer.write(b"HTTP/1.1 302 Found\r\nlocation: https://www.figma.com/design/x\r\n"
                     b"content-length: 0\r\n\r\n")  # fmt: skip
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with link_client() as http:
            # A name that resolves nowhere: only the pin can bring the request to the server.
            response = await http.get(
                f"http://pinned.invalid:{port}/ls/click",
                extensions={"figsync_pinned_address": "127.0.0.1"},
            )
    finally:
        server.close()
    assert response.status_code == 302
    assert seen == [b"GET /ls/click HTTP/1.1\r\n"]
