"""The webhook channel against a real HTTP receiver that verifies the signature."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from engine.errors import DeliveryError
from notices.webhook import WebhookChannel, sign
from tests.notices.servers import WebhookReceiver
from workflows.policy import Webhook

SECRET = "s3cret-for-tests"


def channel(receiver: WebhookReceiver, environ: dict[str, str] | None = None) -> WebhookChannel:
    hooks = {"wa-pupr": Webhook(url=receiver.url, secret_env="WA_SECRET")}
    return WebhookChannel(hooks, environ={"WA_SECRET": SECRET} if environ is None else environ)


def test_signature_is_the_hmac_sha256_of_the_body() -> None:
    body = b'{"a":1}'
    assert sign(b"k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_the_receiver_verifies_the_signature(receiver: WebhookReceiver) -> None:
    ch = channel(receiver)
    ch.send(
        "wa-pupr",
        {"complaint_id": "HSU-1", "text": "Eskalasi tingkat 1 — ditindaklanjuti (é)"},
        notice_key="e1:wa-pupr",
    )
    (delivery,) = receiver.deliveries
    assert delivery.signature_ok
    assert delivery.json == {
        "complaint_id": "HSU-1",
        "text": "Eskalasi tingkat 1 — ditindaklanjuti (é)",
    }
    assert delivery.headers["X-Laporflow-Notice"] == "e1:wa-pupr"
    assert delivery.headers["Content-Type"].startswith("application/json")
    ch.close()


def test_a_wrong_secret_is_refused_by_the_receiver_and_not_retried(
    receiver: WebhookReceiver,
) -> None:
    ch = channel(receiver, {"WA_SECRET": "wrong"})
    with pytest.raises(DeliveryError) as info:
        ch.send("wa-pupr", {"x": 1}, notice_key="k")
    assert receiver.deliveries[0].signature_ok is False
    assert info.value.permanent is True  # 401: asking again cannot help
    ch.close()


def test_missing_secret_env_is_a_permanent_error_naming_it(receiver: WebhookReceiver) -> None:
    with pytest.raises(DeliveryError) as info:
        channel(receiver, {}).send("wa-pupr", {"x": 1}, notice_key="k")
    assert info.value.permanent and "WA_SECRET" in str(info.value)
    assert receiver.deliveries == []


@pytest.mark.parametrize(
    ("status", "permanent"), [(500, False), (503, False), (429, False), (400, True)]
)
def test_server_errors_are_retried_client_errors_are_not(
    receiver: WebhookReceiver, status: int, permanent: bool
) -> None:
    receiver.status = lambda: status
    with pytest.raises(DeliveryError) as info:
        channel(receiver).send("wa-pupr", {"x": 1}, notice_key="k")
    assert info.value.permanent is permanent
