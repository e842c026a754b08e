"""Bodies are size-limited at every inbound endpoint, whether the size is declared or not:
413 `ingest.body_too_large`, nothing appended, and the process keeps serving."""

from __future__ import annotations

import socket

import httpx
import pytest
from security_testing import MAX_BODY, POSTMARK_PASSWORD, SENDGRID_PASSWORD, basic, standard_headers

pytestmark = pytest.mark.integration

CONTENT_TYPES = {
    "email": "application/json",
    "email/mime": "message/rfc822",
    "mailgun": "application/x-www-form-urlencoded",
    "sendgrid": "multipart/form-data; boundary=xYzZY",
    "postmark": "application/json",
    "figma": "application/json",
}
PATHS = [
    (f"{prefix}/{endpoint}", ctype)
    for endpoint, ctype in CONTENT_TYPES.items()
    for prefix in ("/v1/inbound", "/v1/teams/acme/inbound")
]


async def post(ingest, path: str, content, headers: dict[str, str]) -> httpx.Response:
    before = await ingest.position()
    response = await ingest.client.post(path, content=content, headers=headers)
    assert await ingest.position() == before
    return response


@pytest.mark.parametrize(("path", "ctype"), PATHS)
async def test_a_declared_size_over_the_limit_is_refused(ingest, path, ctype):
    body = b"x" * (MAX_BODY + 1)
    response = await post(ingest, path, body, {"content-type": ctype})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "ingest.body_too_large"


@pytest.mark.parametrize(("path", "ctype"), PATHS)
async def test_an_undeclared_chunked_body_over_the_limit_is_refused_while_reading(
    ingest, path, ctype
):
    sent = 0

    async def chunks():
        nonlocal sent
        for _ in range(64):  # up to 16x the limit; reading must stop long before
            sent += 16 * 1024
            yield b"y" * (16 * 1024)

    body = b"y" * (MAX_BODY + 1)
    headers = standard_headers(body, content_type=ctype)  # signed (for another body) on purpose
    password = {"sendgrid": SENDGRID_PASSWORD, "postmark": POSTMARK_PASSWORD}.get(
        path.split("/")[-1]
    )
    if password:  # Basic auth is checked before the body is read; pass it to reach the read
        headers.update(basic(password if path.startswith("/v1/inbound") else "acme-" + password))
    response = await post(ingest, path, chunks(), headers)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "ingest.body_too_large"


async def test_a_body_at_the_limit_is_read_and_judged_on_its_content(ingest):
    body = b"{" + b" " * (MAX_BODY - 2) + b"}"
    assert len(body) == MAX_BODY
    response = await post(ingest, "/v1/inbound/email", body, standard_headers(body))
    assert response.status_code != 413 and 400 <= response.status_code < 500, response.text


def _raw_request(port: int, request: bytes, body_chunks: int) -> bytes:
    """Send headers and up to `body_chunks` chunks of 64 KiB; the server may answer and close
    early (that is the point), so a broken pipe just ends the sending."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        try:
            for _ in range(body_chunks):
                sock.sendall(b"10000\r\n" + b"z" * 0x10000 + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and b"}" in answer:
                    break
        except OSError:
            pass
        return answer


@pytest.mark.e2e
def test_the_real_process_refuses_a_huge_chunked_body_and_keeps_serving(spawn):
    process = spawn(
        "figsync_ingest.main",
        FIGSYNC_MAX_BODY_BYTES="100000",
        FIGSYNC_EMAIL_WEBHOOK_SECRET="whsec_c2VjdXJpdHktc3VpdGUtYm9keS1saW1pdA==",
    )
    request = (
        b"POST /v1/inbound/email HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"webhook-id: msg_x\r\nwebhook-timestamp: 1\r\nwebhook-signature: v1,x\r\n\r\n"
    )
    answer = _raw_request(process.port, request, body_chunks=800)  # 50 MiB offered
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"ingest.body_too_large" in answer
    declared = (
        b"POST /v1/inbound/figma HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", process.port), timeout=30) as sock:
        sock.sendall(declared)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert httpx.get(f"{process.url}/healthz", timeout=10).status_code == 200
    assert process.process.poll() is None
