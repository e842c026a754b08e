"""Tracking links are untrusted: only https, only Figma hosts, never private addresses."""

import threading

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from figsync_figma.links import LinkPolicy, LinkRefused, file_key_from_url, resolve_tracking_link
from figsync_testkit.embedded import free_port

KEY = "Xk3pQ9dLm2RtV8bNc4HsZa"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("url", "key"),
    [
        (f"https://www.figma.com/file/{KEY}/Name?node-id=1-2", KEY),
        (f"https://www.figma.com/design/{KEY}/Name", KEY),
        (f"https://www.figma.com/board/{KEY}/FigJam-board", KEY),
        (f"https://www.figma.com/proto/{KEY}/Proto?page-id=0", KEY),
        (f"https://figma.com/design/{KEY}", KEY),
        (f"https://www.figma.com/design/{KEY}/Name/branch/BrAnChKeY012345/x", "BrAnChKeY012345"),
        (f"https://evil.example/design/{KEY}/Name", None),
        (f"https://www.figma.com.evil.example/design/{KEY}", None),
        ("https://www.figma.com/community/file/123", None),
        ("not a url", None),
    ],
)
def test_file_keys_from_every_url_form(url, key):
    assert file_key_from_url(url) == key


def policy(**kwargs):
    return LinkPolicy(**kwargs)


async def refused(url: str, pol: LinkPolicy | None = None) -> str:
    async with httpx.AsyncClient() as http:
        with pytest.raises(LinkRefused) as error:
            await resolve_tracking_link(url, http, pol or policy())
    return str(error.value)


@pytest.mark.unit
async def test_http_is_refused():
    assert (await refused("http://click.figma.com/ls/click?upn=x")).startswith("link.not_https")


@pytest.mark.unit
async def test_another_host_is_refused():
    assert (await refused("https://evil.example/ls/click")).startswith("link.host_not_allowed")


@pytest.mark.unit
@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "10.1.2.3", "169.254.169.254", "[::1]", "192.168.0.1", "[::ffff:10.0.0.1]"],
)
async def test_private_loopback_and_link_local_addresses_are_refused(host):
    # Allow-list the address itself so the refusal comes from the address check.
    allowed = policy(allowed_hosts=frozenset({host.strip("[]")}))
    assert (await refused(f"https://{host}/ls/click", allowed)).startswith("link.private_address")


@pytest.mark.unit
async def test_a_name_resolving_to_a_private_address_is_refused():
    allowed = policy(allowed_hosts=frozenset({"localhost"}))
    assert (await refused("https://localhost/ls/click", allowed)).startswith("link.private_address")


@pytest.mark.unit
async def test_user_info_in_a_link_is_refused():
    assert "credentials" in await refused("https://user:pw@click.figma.com/x")


@pytest.fixture(scope="module")
def redirector():
    """A local server that redirects in circles, in long chains, and to forbidden places."""

    async def loop(_):
        return RedirectResponse("/loop", status_code=302)

    async def hop(request):
        n = int(request.path_params["n"])
        return RedirectResponse(f"/hop/{n + 1}", status_code=302)

    async def to_private(_):
        return RedirectResponse("https://10.0.0.7/steal", status_code=302)

    async def to_http_figma(_):
        return RedirectResponse(f"http://www.figma.com/design/{KEY}", status_code=302)

    async def to_file(_):
        return RedirectResponse(f"https://www.figma.com/design/{KEY}/Name", status_code=302)

    async def not_redirect(_):
        return Response("hello")

    app = Starlette(routes=[
        Route("/loop", loop), Route("/hop/{n}", hop), Route("/private", to_private),
        Route("/file", to_file), Route("/plain", not_redirect), Route("/httpfigma", to_http_figma),
    ])  # fmt: skip
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def test_policy(host: str) -> LinkPolicy:
    return LinkPolicy(test_insecure_hosts=frozenset({host}), timeout=2)


test_policy.__test__ = False  # a helper, not a test


@pytest.mark.integration
async def test_a_redirect_loop_is_refused(redirector):
    msg = await refused(f"http://{redirector}/loop", test_policy(redirector))
    assert msg.startswith("link.redirect_loop")


@pytest.mark.integration
async def test_too_many_hops_are_refused(redirector):
    msg = await refused(f"http://{redirector}/hop/0", test_policy(redirector))
    assert msg.startswith("link.too_many_hops")


@pytest.mark.integration
async def test_a_redirect_to_a_private_address_is_refused(redirector):
    pol = LinkPolicy(
        allowed_hosts=frozenset({"10.0.0.7"}), test_insecure_hosts=frozenset({redirector})
    )
    msg = await refused(f"http://{redirector}/private", pol)
    assert msg.startswith("link.private_address")


@pytest.mark.integration
async def test_a_link_that_does_not_redirect_is_refused(redirector):
    assert (await refused(f"http://{redirector}/plain", test_policy(redirector))).startswith(
        "link.no_redirect"
    )


@pytest.mark.integration
async def test_a_good_link_resolves_to_the_file_url_without_requesting_it(redirector):
    async with httpx.AsyncClient() as http:
        url = await resolve_tracking_link(
            f"http://{redirector}/file", http, test_policy(redirector)
        )
    assert file_key_from_url(url) == KEY


@pytest.mark.integration
async def test_the_test_override_is_off_by_default(redirector):
    assert (await refused(f"http://{redirector}/file")).startswith("link.not_https")


@pytest.mark.unit
def test_the_default_policy_allows_only_figma_hosts():
    assert LinkPolicy().test_insecure_hosts == frozenset()
    assert all(h.endswith("figma.com") for h in LinkPolicy().allowed_hosts)
