"""The JSON API over a real socket (uvicorn in a thread, httpx client), CONTRACT §9.

The database holds the hand-computed history of tests/engine/admin_history.py; the
numbers asserted here are explained there and in the engine's query tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

import httpx
import pytest
from pydantic import SecretStr

from engine.report import build_report
from engine.status import complaint_status
from engine.store import Store
from tests.engine.admin_history import POLICY, apply, history
from tests.webapp.server import running
from webapp.api import State
from webapp.app import create_app
from workflows.complaint import COMPLAINT_WORKFLOW

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}")
    s.migrate()
    apply(s, history())
    yield s
    s.close()


@pytest.fixture(scope="module")
def base_url(store: Store) -> Iterator[str]:
    app = create_app(store, POLICY, SecretStr(TOKEN))
    # The 401 tests send many wrong tokens from one address (tests/webapp/test_pages.py
    # checks the limiter).
    app.state.context.limiter.max_failures = 1_000
    with running(app) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as c:
        yield c


def get(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/complaints",
        "/api/v1/complaints/HSU-1",
        "/api/v1/reports/skpd",
        "/api/v1/reports/intake",
        "/api/v1/reports/liaisons",
    ],
)
@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", TOKEN],
)
def test_every_route_needs_the_token(base_url: str, path: str, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = httpx.get(base_url + path, headers=headers, timeout=10)
    assert response.status_code == 401, (header, response.text)
    assert response.headers["www-authenticate"] == "Bearer"
    assert "HSU" not in response.text


def test_complaint_is_what_status_json_shows(client: httpx.Client, store: Store) -> None:
    found = get(client, "/api/v1/complaints/HSU-4")
    assert found == complaint_status(store, "HSU-4", POLICY)
    assert found["state"] == "submitted" and found["clocks"]["verification"]["breached"]
    assert {"complaint_id", "state", "skpd", "seq", "escalation_level", "clocks"} <= set(found)
    missing = client.get("/api/v1/complaints/HSU-404")
    assert missing.status_code == 404
    assert "HSU-404" in missing.json()["detail"]
    assert client.get("/api/v1/complaints/" + "x" * 65).status_code == 422


def test_paging_follows_next_to_the_end(client: httpx.Client) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = get(client, "/api/v1/complaints", **params)
        pages += 1
        seen += [item["complaint_id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == 2
    assert seen == ["ACEH-1", "HSU-1", "HSU-2", "HSU-3", "HSU-4", "HSU-5"]
    first = get(client, "/api/v1/complaints", limit=1)["items"][0]
    assert set(first) == {
        "complaint_id",
        "state",
        "region",
        "skpd",
        "category",
        "seq",
        "escalation_level",
        "breached",
        "created_at",
        "updated_at",
    }


def test_filters(client: httpx.Client) -> None:
    def ids(**params: Any) -> list[str]:
        return [i["complaint_id"] for i in get(client, "/api/v1/complaints", **params)["items"]]

    assert ids(breached="true") == ["HSU-4"]
    assert ids(breached="false", region="HSU") == ["HSU-1", "HSU-2", "HSU-3", "HSU-5"]
    assert ids(state="resolved") == ["HSU-1", "HSU-2", "HSU-3"]
    assert ids(skpd="DINKES", region="HSU") == ["HSU-1", "HSU-2"]
    assert ids(state="submitted", region="HSU", limit=1) == ["HSU-4"]
    assert ids(region="KALTENG") == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/complaints", {"limit": 0}, "limit"),
        ("/api/v1/complaints", {"limit": 201}, "limit"),
        ("/api/v1/complaints", {"limit": "ten"}, "limit"),
        ("/api/v1/complaints", {"state": "lost"}, "state"),
        ("/api/v1/complaints", {"breached": "maybe"}, "breached"),
        ("/api/v1/complaints", {"cursor": "bogus"}, "cursor"),
        ("/api/v1/complaints", {"region": "HSU;DROP"}, "region"),
        ("/api/v1/reports/skpd", {"since": "2026-13-01"}, "since"),
        ("/api/v1/reports/intake", {"until": "yesterday"}, "until"),
        ("/api/v1/reports/liaisons", {"since": "2026-04-10", "until": "2026-04-09"}, "until"),
    ],
)
def test_bad_queries_are_422_naming_the_parameter(
    client: httpx.Client, path: str, params: dict[str, Any], field: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [d["loc"] for d in detail] == [["query", field]], detail
    assert all(d["msg"] for d in detail)


def test_reports(client: httpx.Client, store: Store) -> None:
    # The SKPD rows are passed through as the report builds them.
    skpd = get(client, "/api/v1/reports/skpd", region="HSU")
    assert skpd == [row.as_dict() for row in build_report(store, POLICY, region="HSU")]
    assert [r["skpd"] for r in skpd] == ["DINKES", "PUPR"]
    intake = get(client, "/api/v1/reports/intake", since="2026-04-01", until="2026-04-30")
    assert [(r["region"], r["received"], r["target"], r["by_channel"]) for r in intake] == [
        ("ACEH", 1, None, {"web": 1}),
        ("BJM", 0, 2, {}),
        ("HSU", 3, 3, {"sms": 1, "web": 2}),
    ]
    assert {r["month"] for r in intake} == {"2026-04"} and not any(r["partial"] for r in intake)
    liaisons = get(client, "/api/v1/reports/liaisons", region="HSU")
    assert [(r["skpd"], r["officers"], r["changes"], r["current"]) for r in liaisons] == [
        ("DINKES", ["ani", "budi"], 2, "ani"),
        ("PUPR", ["citra"], 0, "citra"),
    ]
    assert liaisons[0]["current_since"].startswith("2026-04-09T02:00:00")


def test_openapi_describes_the_routes_and_the_bearer_scheme(base_url: str) -> None:
    response = httpx.get(base_url + "/api/openapi.json", timeout=10)
    assert response.status_code == 200
    spec = response.json()
    assert {
        "/api/v1/complaints",
        "/api/v1/complaints/{complaint_id}",
        "/api/v1/reports/skpd",
        "/api/v1/reports/intake",
        "/api/v1/reports/liaisons",
    } <= set(spec["paths"])
    assert not any(path.startswith("/admin") for path in spec["paths"])
    schemes = spec["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    listing = spec["paths"]["/api/v1/complaints"]["get"]
    params = {p["name"] for p in listing["parameters"]}
    assert params == {"state", "skpd", "region", "breached", "cursor", "limit"}
    # The interactive docs would load scripts from a CDN: not served.
    assert httpx.get(base_url + "/docs", timeout=10).status_code == 404


def test_state_filter_accepts_exactly_the_workflow_states() -> None:
    assert set(get_args(State)) == set(COMPLAINT_WORKFLOW.states)


def test_database_down_is_503() -> None:
    # Nothing listens on port 1: every query fails to connect.
    down = Store("postgresql+psycopg://laporflow@127.0.0.1:1/laporflow?connect_timeout=2")
    with running(create_app(down, POLICY, SecretStr(TOKEN))) as url:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        for path in ("/api/v1/complaints", "/api/v1/reports/intake", "/api/v1/complaints/X-1"):
            response = httpx.get(url + path, headers=headers, timeout=20)
            assert response.status_code == 503, response.text
            assert "database" in response.json()["detail"]
            assert "127.0.0.1:1" not in response.text  # no connection details leak
        assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    down.close()
