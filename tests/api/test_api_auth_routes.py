"""--api-auth covers every route of the API: the route table of a real server is walked, so a new route that forgets
the auth dependency fails here."""

from __future__ import annotations

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from webui.server import create_server

PROTECTED_PREFIXES = ("/sdapi/", "/internal/")


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
    return [
        (method, path)
        for path, methods in flat_routes(server)
        if path.startswith(PROTECTED_PREFIXES)
        for method in sorted(methods - {"HEAD"})
    ]


@pytest.fixture(scope="module")
def server(tiny_app) -> FastAPI:
    return create_server(tiny_app)


@pytest.fixture
def auth_server(app_factory) -> FastAPI:
    return create_server(app_factory(api=True, nowebui=True, api_auth="alice:secret,bob:other"))


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
    } <= paths
    assert len(routes) >= 35
    client = TestClient(auth_server)
    open_routes = []
    for method, path in routes:
        for auth in (None, ("alice", "wrong"), ("mallory", "secret")):
            response = client.request(method, path, auth=auth)
            if response.status_code != 401 or response.headers.get("www-authenticate") != "Basic":
                open_routes.append(f"{method} {path} {auth}: {response.status_code}")
    assert open_routes == []


def test_credentials_open_the_new_routes(auth_server: FastAPI) -> None:
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
