"""Standard Webhooks signatures, checked independently with the reference ``standardwebhooks`` library:
ours verify there, theirs verify here, and during a rotation either secret verifies."""
from __future__ import annotations

import time
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from gateway.crypto.secrets import new_webhook_secret
from gateway.domain.schedule import WEBHOOK_BACKOFF, webhook_backoff
from gateway.services import webhooks


@given(body=st.binary(max_size=2048).map(lambda b: b.decode("latin-1").encode()), msg_id=st.from_regex(r"evt_[a-z0-9]{1,24}", fullmatch=True))
def test_our_signature_verifies_with_the_reference_library(body: bytes, msg_id: str) -> None:
    secret = new_webhook_secret()
    headers = webhooks.signed_headers([secret], msg_id, int(time.time()), body)
    Webhook(secret).verify(body, headers, json_parse=False)  # raises on a bad signature
    assert webhooks.verify(secret, headers, body)


def test_the_reference_signature_verifies_here() -> None:
    secret, body, now = new_webhook_secret(), b'{"type":"payment.succeeded"}', datetime.now(UTC)
    sig = Webhook(secret).sign("evt_1", now, body.decode())
    headers = {"webhook-id": "evt_1", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": sig}
    assert webhooks.verify(secret, headers, body)
    assert sig == webhooks.sign(secret, "evt_1", int(now.timestamp()), body)


def test_during_a_rotation_both_secrets_verify_and_a_stranger_does_not() -> None:
    old, new, stranger = new_webhook_secret(), new_webhook_secret(), new_webhook_secret()
    body = b'{"x":1}'
    headers = webhooks.signed_headers([new, old], "evt_2", int(time.time()), body)
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers, json_parse=False)
        assert webhooks.verify(secret, headers, body)
    assert not webhooks.verify(stranger, headers, body)


def test_tampering_and_stale_timestamps_fail() -> None:
    secret = new_webhook_secret()
    ts = int(time.time())
    headers = webhooks.signed_headers([secret], "evt_3", ts, b"{}")
    assert not webhooks.verify(secret, headers, b"{ }")
    assert not webhooks.verify(secret, {**headers, "webhook-id": "evt_4"}, b"{}")
    assert not webhooks.verify(secret, headers, b"{}", now=ts + webhooks.TOLERANCE + 1)


def test_retry_schedule_spans_more_than_a_day() -> None:
    total = sum((webhook_backoff(n) for n in range(1, len(WEBHOOK_BACKOFF) + 1)), start=WEBHOOK_BACKOFF[0] * 0)
    assert total.total_seconds() >= 24 * 3600
    assert webhook_backoff(len(WEBHOOK_BACKOFF) + 1) is None
