"""GET /health, start-up against a missing database, and the idempotent schema."""
import threading

from musicapi import create_app

from .conftest import app_settings
from .helpers import assert_fail, create_album, unique

TABLES = {"users", "authentications", "albums", "songs", "playlists", "playlist_songs"}


def test_health_is_ok_with_the_database_up(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "success", "data": {"database": "ok"}}


def test_health_is_503_when_the_database_is_unreachable(cluster):
    # Nothing listens on port 1; start-up does not wait (DB_WAIT_SECONDS=0).
    app = create_app(app_settings(cluster, PGPORT=1))
    client = app.test_client()
    assert_fail(client.get("/health"), 503, "database unavailable")
    assert_fail(client.get("/albums"), 503, "database unavailable")


def test_api_recovers_once_a_missing_database_appears(cluster):
    dbname = unique("late").replace("-", "_")
    app = create_app(app_settings(cluster, dbname=dbname))
    client = app.test_client()
    assert client.get("/health").status_code == 503
    cluster.create_database(dbname)
    assert client.get("/health").status_code == 200
    assert client.post("/albums", json={"name": "Late", "year": 2000}).status_code == 201


def test_schema_creation_is_idempotent(cluster, client, db_connection):
    album_id = create_album(client)
    again = create_app(app_settings(cluster))  # the session's app already created the schema
    assert again.test_client().get(f"/albums/{album_id}").status_code == 200
    assert _tables(db_connection) == TABLES


def test_replicas_starting_at_once_both_create_the_schema(cluster):
    dbname = unique("race").replace("-", "_")
    cluster.create_database(dbname)
    apps, errors = [], []
    barrier = threading.Barrier(4)

    def start_replica():
        barrier.wait()
        try:
            apps.append(create_app(app_settings(cluster, dbname=dbname)))
        except Exception as error:  # collected, so the assertion can show it
            errors.append(error)

    threads = [threading.Thread(target=start_replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for app in apps:
        assert app.test_client().get("/albums").status_code == 200


def _tables(connection):
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        return {row[0] for row in cursor.fetchall()}
