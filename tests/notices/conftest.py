from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notices.servers import SmtpServer, WebhookReceiver


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(secret=b"s3cret-for-tests")
    yield r
    r.close()
