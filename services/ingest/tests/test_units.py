"""Signatures and token buckets, without I/O."""

from __future__ import annotations

import base64

import pytest

from figsync_ingest.errors import Rejected
from figsync_ingest.limits import TokenBuckets
from figsync_ingest.signatures import (
    sign_mailgun,
    sign_standard,
    verify_basic_auth,
    verify_mailgun,
    verify_standard,
)

pytestmark = pytest.mark.unit

# The example in the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(signature: str = SPEC_SIGNATURE, ts: int = SPEC_TS, webhook_id: str = SPEC_ID):
    return {"webhook-id": webhook_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def code_of(call) -> str:
    with pytest.raises(Rejected) as caught:
        call()
    return caught.value.code


def test_signing_matches_the_specifications_example():
    assert sign_standard(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE
    assert verify_standard(SPEC_SECRET, headers(), SPEC_BODY, SPEC_TS + 10, 300) == (
        SPEC_ID,
        SPEC_TS,
    )


def test_any_of_several_signatures_may_match():
    several = f"v1,{base64.b64encode(b'x' * 32).decode()} v1a,abc {SPEC_SIGNATURE}"
    verify_standard(SPEC_SECRET, headers(several), SPEC_BODY, SPEC_TS, 300)


@pytest.mark.parametrize(
    ("hdrs", "body", "now", "code"),
    [
        (headers(), SPEC_BODY + b" ", SPEC_TS, "ingest.bad_signature"),
        (headers(webhook_id="msg_other"), SPEC_BODY, SPEC_TS, "ingest.bad_signature"),
        (headers(ts=SPEC_TS + 1), SPEC_BODY, SPEC_TS, "ingest.bad_signature"),
        (headers(SPEC_SIGNATURE.replace("v1,", "v2,")), SPEC_BODY, SPEC_TS, "ingest.bad_signature"),
        (headers("v1,not base64 at all"), SPEC_BODY, SPEC_TS, "ingest.bad_signature"),
        (headers("garbage"), SPEC_BODY, SPEC_TS, "ingest.bad_signature"),
        (headers(), SPEC_BODY, SPEC_TS + 301, "ingest.stale_timestamp"),
        (headers(), SPEC_BODY, SPEC_TS - 301, "ingest.stale_timestamp"),
        (
            {**headers(), "webhook-timestamp": "1614265330.5"},
            SPEC_BODY,
            SPEC_TS,
            "ingest.bad_timestamp",
        ),
        ({**headers(), "webhook-timestamp": "-1"}, SPEC_BODY, SPEC_TS, "ingest.bad_timestamp"),
        ({"webhook-id": SPEC_ID}, SPEC_BODY, SPEC_TS, "ingest.missing_signature"),
    ],
)
def test_wrong_signatures_and_timestamps_are_refused_with_their_code(hdrs, body, now, code):
    assert code_of(lambda: verify_standard(SPEC_SECRET, hdrs, body, now, 300)) == code


def test_a_non_utf8_body_is_verified_as_bytes():
    body = b"Subject: caf\xe9\r\n\r\n\xff"
    signature = sign_standard(SPEC_SECRET, SPEC_ID, SPEC_TS, body)
    verify_standard(SPEC_SECRET, headers(signature), body, SPEC_TS, 300)


def test_mailgun_signatures():
    key, ts, token = "key-1", str(SPEC_TS), "a" * 50
    signature = sign_mailgun(key, ts, token)
    verify_mailgun(key, ts, token, signature, SPEC_TS, 300)
    assert (
        code_of(lambda: verify_mailgun(key, ts, token + "b", signature, SPEC_TS, 300))
        == "ingest.bad_signature"
    )
    assert (
        code_of(lambda: verify_mailgun(key, ts, token, signature, SPEC_TS + 900, 300))
        == "ingest.stale_timestamp"
    )
    assert (
        code_of(lambda: verify_mailgun(key, "", token, signature, SPEC_TS, 300))
        == "ingest.missing_signature"
    )


def test_basic_auth_checks_only_the_password():
    good = "Basic " + base64.b64encode(b"anyone:s3cret:with:colons").decode()
    verify_basic_auth("s3cret:with:colons", good, "SendGrid")
    for header in (
        "",
        "Bearer x",
        "Basic",
        "Basic ###",
        "Basic " + base64.b64encode(b"s3cret").decode(),
    ):
        assert code_of(lambda h=header: verify_basic_auth("s3cret", h, "SendGrid")).startswith(
            "ingest."
        )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_asks_to_wait_and_refills():
    clock = FakeClock()
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == 1
    assert buckets.take("b") == 0  # another key has its own bucket
    clock.now += 0.5
    assert buckets.take("a") == 0
    assert buckets.take("a") >= 1


def test_a_zero_rate_turns_the_limit_off_and_keys_are_bounded():
    assert TokenBuckets(rate=0, burst=1).take("x") == 0
    buckets = TokenBuckets(rate=1, burst=1, max_keys=10)
    for i in range(100):
        buckets.take(str(i))
    assert len(buckets._buckets) == 10
