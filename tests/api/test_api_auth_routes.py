"""--api-auth covers every route of the API: the route table of a real server is walked (every endpoint but the
docs: /sdapi, /internal, the ControlNet extension's /controlnet, and whatever extensions add, also after start-up),
so a new route that forgets the auth dependency fails here."""

from __future__ import annotations

import fastapi.routing
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from webui.server import create_server

DOCS = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}  # open, as in A1111
LOGINS = ("alice:secret,bob:other", ("alice", "secret"))
BAD_LOGINS = (None, ("alice", "wrong"), ("mallory", "secret"), ("alice", ""))


def flat_routes(server: FastAPI) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, including those of included routers (FastAPI ≥ 0.13x keeps them in lazy
    `_IncludedRouter` entries of `server.routes`; iter_route_contexts flattens them)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = iterate(server.routes) if iterate is not None else server.routes
    return [
        (route.path, set(route.methods or ()))
        for route in routes
        if isinstance(getattr(route, "path", None), str) and route.methods
    ]


def api_routes(server: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every endpoint of the server but the docs."""
    return [
        (method, path)
        for path, methods in flat_routes(server)
        if path not in DOCS
        for method in sorted(methods - {"HEAD"})
    ]


def open_routes(client: TestClient, routes: list[tuple[str, str]]) -> list[str]:
    """The routes that answer anything but 401 + WWW-Authenticate: Basic without the right login."""
    found = []
    for method, path in routes:
        for auth in BAD_LOGINS:
            response = client.request(method, path, auth=auth)
            if response.status_code != 401 or response.headers.get("www-authenticate") != "Basic":
                found.append(f"{method} {path} {auth}: {response.status_code}")
    return found


@pytest.fixture(scope="module")
def server(tiny_app) -> FastAPI:
    return create_server(tiny_app)


@pytest.fixture
def auth_server(app_factory) -> FastAPI:
    return create_server(app_factory(api=True, nowebui=True, api_auth=LOGINS[0]))


def test_every_api_route_refuses_without_credentials(auth_server: FastAPI) -> None:
    routes = api_routes(auth_server)
    paths = {path for _, path in routes}
    # the table really holds the API (so an empty walk cannot pass)
    assert {
        "/sdapi/v1/txt2img",
        "/sdapi/v1/img2img",
        "/sdapi/v1/png-info",
        "/sdapi/v1/options",
        "/sdapi/v1/extensions",
        "/sdapi/v1/interrogate",
        "/internal/ping",
        "/internal/progress",
        "/sdapi/v2/jobs",
        "/controlnet/model_list",
    } <= paths
    assert len(routes) >= 40
    assert open_routes(TestClient(auth_server), routes) == []


def late_extension_routes(server: FastAPI) -> None:
    """What an extension does in on_app_started or later: routes on the app itself, a router without auth."""

    def status() -> dict[str, str]:
        return {"status": "ok"}

    server.add_api_route("/sdapi/v1/late-extension", status, methods=["GET", "POST"])
    server.add_api_route("/late-extension/v1/status", status, methods=["GET"])
    router = APIRouter()
    router.add_api_route("/queue", status, methods=["GET", "DELETE"])
    server.include_router(router, prefix="/late-router/v1")


def test_routes_added_after_start_up_are_protected_too(auth_server: FastAPI) -> None:
    with TestClient(auth_server) as client:  # started: lifespan ran, the middleware stack is built
        late_extension_routes(auth_server)
        routes = api_routes(auth_server)
        late = {path for _, path in routes if "late-" in path}
        assert late == {"/sdapi/v1/late-extension", "/late-extension/v1/status", "/late-router/v1/queue"}
        assert open_routes(client, routes) == []
        for method, path in routes:
            if "late-" in path:
                response = client.request(method, path, auth=LOGINS[1])
                assert response.status_code == 200 and response.json() == {"status": "ok"}, (method, path)
        # an unknown API path says nothing without a login (401 before 404)
        assert client.get("/sdapi/v1/no-such-route").status_code == 401
        assert client.get("/sdapi/v1/no-such-route", auth=LOGINS[1]).status_code == 404
        # a browser's CORS preflight carries no credentials; it is not refused for that
        preflight = {"Origin": "http://example.test", "Access-Control-Request-Method": "POST"}
        assert client.options("/sdapi/v1/txt2img", headers=preflight).status_code != 401


def test_credentials_open_the_routes(auth_server: FastAPI) -> None:
    client = TestClient(auth_server)
    for user, password in (("alice", "secret"), ("bob", "other")):
        assert client.get("/internal/ping", auth=(user, password)).json() == {}
        assert client.get("/sdapi/v1/upscalers", auth=(user, password)).status_code == 200
    response = client.post("/internal/progress", json={"id_task": "x"}, auth=("alice", "secret"))
    assert response.status_code == 200 and response.json()["textinfo"] == "Waiting..."
    assert client.get("/docs").status_code == 200  # the docs stay open, as in A1111


def test_without_api_auth_the_routes_are_open(server: FastAPI) -> None:
    client = TestClient(server)
    assert client.get("/internal/ping").status_code == 200
    assert client.get("/sdapi/v1/scripts").status_code == 200
