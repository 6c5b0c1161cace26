"""Shared fixtures of the lapor/ tests: the simulator over real HTTP (uvicorn, port 0)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from lapor.client import LaporClient
from lapor.serving import ThreadedServer
from lapor.sim import LaporSim, create_app

TOKEN = "rahasia-token-123"


@pytest.fixture
def sim() -> LaporSim:
    return LaporSim(reports=23, seed=5, token=TOKEN, stall_s=0.6, retry_after_s=1)


@pytest.fixture
def server(sim: LaporSim) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(sim)) as srv:
        yield srv


_OPEN: list[LaporClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def client(server: ThreadedServer, token: str = TOKEN, **kw: object) -> LaporClient:
    retries: list[str] = []
    c = LaporClient(
        server.url,
        SecretStr(token),
        timeout_s=0.3,
        backoff_s=0.02,
        max_backoff_s=0.1,
        on_retry=retries.append,
        **kw,  # type: ignore[arg-type]
    )
    c.retries = retries  # type: ignore[attr-defined]
    _OPEN.append(c)
    return c


def all_pages(c: LaporClient, limit: int) -> tuple[list[dict[str, object]], str | None]:
    cursor, items = None, []
    while True:
        page = c.page(cursor, limit)
        items += page.items
        if page.next is None:
            return items, cursor
        cursor = page.next
