"""GET /health, start-up against a missing database, and the idempotent schema."""
import threading

from musicapi import create_app

from .conftest import app_settings
from .helpers import User, assert_fail, create_album, unique

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
    late_user = User(client)
    assert client.post("/albums", json={"name": "Late", "year": 2000}, headers=late_user.headers).status_code == 201


def test_schema_creation_is_idempotent(cluster, editor, db_connection):
    album_id = create_album(editor)
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


def test_a_database_of_the_earlier_version_is_migrated_and_its_sessions_kept(cluster):
    """Earlier versions stored refresh tokens in plain text, without expiry."""
    import hashlib
    import time

    import bcrypt
    import jwt
    import psycopg2

    from .helpers import PASSWORD, REFRESH_KEY, ROLE

    dbname = unique("old").replace("-", "_")
    cluster.create_database(dbname)
    old_token = jwt.encode({"id": "user-oldoldoldoldold1", "iat": int(time.time()), "jti": "old"},
                           REFRESH_KEY, algorithm="HS256")
    connection = psycopg2.connect(host="127.0.0.1", port=cluster.port, user=ROLE, password=PASSWORD, dbname=dbname)
    connection.autocommit = True
    with connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE users (id VARCHAR(50) PRIMARY KEY, username VARCHAR(50) NOT NULL UNIQUE,"
                       " password TEXT NOT NULL, fullname TEXT NOT NULL)")
        cursor.execute("INSERT INTO users VALUES ('user-oldoldoldoldold1', 'old', %s, 'Old User')",
                       (bcrypt.hashpw(b"old-password", bcrypt.gensalt(4)).decode(),))
        cursor.execute("CREATE TABLE authentications (token TEXT PRIMARY KEY)")
        cursor.execute("INSERT INTO authentications VALUES (%s)", (old_token,))

    for _ in range(2):  # the second start finds the migration done
        client = create_app(app_settings(cluster, dbname=dbname)).test_client()
        with connection.cursor() as cursor:
            cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'authentications'")
            assert {row[0] for row in cursor.fetchall()} == {"token_hash", "expires_at"}
            cursor.execute("SELECT token_hash, expires_at > now() + interval '13 days' FROM authentications")
            assert cursor.fetchall() == [(hashlib.sha256(old_token.encode()).hexdigest(), True)]

    refreshed = client.put("/authentications", json={"refreshToken": old_token})
    assert refreshed.status_code == 200, refreshed.get_json()
    assert client.put("/authentications", json={"refreshToken": old_token}).status_code == 400
    assert client.post("/authentications", json={"username": "old", "password": "old-password"}).status_code == 201
    connection.close()
