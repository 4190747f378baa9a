"""The connection pool against the real PostgreSQL: connections are kept,
checked before reuse, and replaced after the server drops them or restarts
(503 while it is away, never a 500)."""
import time
from contextlib import closing

import psycopg2
import pytest

from musicapi import create_app

from .conftest import app_settings
from .helpers import PASSWORD, ROLE, User, assert_fail, unique


@pytest.fixture
def dbname(cluster):
    """A database of its own, so that only this test's app has sessions in it."""
    name = unique("pool").replace("-", "_")
    cluster.create_database(name)
    return name


@pytest.fixture
def pool_app(cluster, dbname):
    app = create_app(app_settings(cluster, dbname=dbname))
    yield app
    app.extensions["musicapi.db"].close()


def backend_pids(cluster, dbname):
    connection = psycopg2.connect(host="127.0.0.1", port=cluster.port, user=ROLE, password=PASSWORD, dbname="postgres")
    with closing(connection), connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'musicapi'",
                       (dbname,))
        return {row[0] for row in cursor.fetchall()}


def test_connections_are_kept_between_requests(cluster, dbname, pool_app):
    client = pool_app.test_client()
    assert client.get("/health").status_code == 200
    first = backend_pids(cluster, dbname)
    assert first, "no connection kept after a request"
    for _ in range(5):
        assert client.get("/albums").status_code == 200
    assert backend_pids(cluster, dbname) == first


def test_connections_ended_by_the_server_are_replaced_without_an_error(cluster, dbname, pool_app):
    client = pool_app.test_client()
    user = User(client)
    assert client.get("/health").status_code == 200
    killed = backend_pids(cluster, dbname)
    assert killed
    cluster.execute_as_superuser("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)",
                                 (list(killed),))
    assert client.get("/health").status_code == 200
    assert client.post("/albums", json={"name": "After", "year": 2001}, headers=user.headers).status_code == 201
    assert client.get("/albums").status_code == 200
    assert not backend_pids(cluster, dbname) & killed


def test_database_restart_is_503_while_down_then_200(cluster, dbname, pool_app):
    client = pool_app.test_client()
    user = User(client)
    assert client.get("/health").status_code == 200
    assert backend_pids(cluster, dbname)
    cluster.stop_server()
    try:
        assert_fail(client.get("/health"), 503, "database unavailable")
        assert_fail(client.get("/albums"), 503, "database unavailable")
        assert_fail(client.post("/authentications", json={"username": user.username, "password": user.password}),
                    503, "database unavailable")
    finally:
        cluster.start_server()
    started = time.monotonic()
    assert client.get("/health").status_code == 200
    assert time.monotonic() - started < 5
    assert client.post("/albums", json={"name": "Back", "year": 2002}, headers=user.headers).status_code == 201
    assert client.post("/authentications", json={"username": user.username, "password": user.password}
                       ).status_code == 201


def test_the_session_app_survives_a_restart_too(cluster, client, editor):
    # Its kept connections went away with the server in the test above, or here.
    assert client.get("/health").status_code == 200
    cluster.stop_server()
    try:
        assert_fail(client.get("/health"), 503, "database unavailable")
    finally:
        cluster.start_server()
    assert client.get("/health").status_code == 200
    assert editor.post("/albums", json={"name": "Again", "year": 2003}).status_code == 201
