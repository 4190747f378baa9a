"""A throwaway PostgreSQL 15 cluster for the session, and the API app on top of it.

The cluster uses Debian's binaries (apt package `postgresql`), listens on
127.0.0.1 on a free port with scram-sha-256 passwords, as the real stack does,
and is deleted at the end. PostgreSQL refuses to run as root, so as root its
commands run as the `postgres` user.
"""
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

from .helpers import ACCESS_KEY, DATABASE, PASSWORD, REFRESH_KEY, ROLE, User

BACKEND_DIR = Path(__file__).resolve().parents[3] / "compose" / "backend"
sys.path.insert(0, str(BACKEND_DIR))

from musicapi import create_app  # noqa: E402

PG_BIN = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))


class Cluster:
    def __init__(self, root, port, owner):
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.port = port
        self._owner = owner  # the OS user to run PostgreSQL as, or None for ourselves

    def start(self):
        self.socket_dir.mkdir()
        self._give_to_owner(self.root, self.socket_dir)
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        self.start_server()

    def start_server(self):
        # fsync off: the data is thrown away, and the tests should take seconds.
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} -c fsync=off"
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.root / "server.log", "-o", options, "-w", "start")

    def stop_server(self):
        """Stop PostgreSQL but keep its data, as a restart of the db task does."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def stop(self):
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def execute_as_superuser(self, sql, params=None):
        # Over the socket, where initdb's --auth-local=trust lets us in as postgres.
        connection = psycopg2.connect(host=str(self.socket_dir), port=self.port, user="postgres", dbname="postgres")
        with closing(connection):
            connection.autocommit = True  # CREATE DATABASE refuses to run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(sql, params)

    def create_database(self, name):
        self.execute_as_superuser(f'CREATE DATABASE "{name}" OWNER "{ROLE}"')

    def _give_to_owner(self, *paths):
        if self._owner:
            for path in paths:
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)

    def _run(self, *command):
        prefix = ["runuser", "-u", self._owner.pw_name, "--"] if self._owner else []
        result = subprocess.run(prefix + [str(part) for part in command], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def _cluster_owner():
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root but there is no 'postgres' user (apt-get install postgresql)")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def app_settings(cluster, dbname=DATABASE, **overrides):
    """Settings for create_app, so that nothing comes from the environment."""
    settings = {
        "PGHOST": "127.0.0.1",
        "PGPORT": cluster.port,
        "PGDATABASE": dbname,
        "PGUSER": ROLE,
        "PGPASSWORD": PASSWORD,
        "ACCESS_TOKEN_KEY": ACCESS_KEY,
        "REFRESH_TOKEN_KEY": REFRESH_KEY,
        "ACCESS_TOKEN_AGE": 1800,
        "DB_WAIT_SECONDS": 0,
        # The minimum cost: hashes stay real bcrypt, and the tests stay fast.
        "BCRYPT_ROUNDS": 4,
        "TESTING": True,
    }
    settings.update(overrides)
    return settings


@pytest.fixture(scope="session")
def cluster():
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL 15 in {PG_BIN}: apt-get install postgresql (or set PG_BINDIR)")
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="musicapi-pg-")), _free_port(), _cluster_owner())
    try:
        cluster.start()
        cluster.execute_as_superuser(f'CREATE ROLE "{ROLE}" LOGIN PASSWORD %s', (PASSWORD,))
        cluster.create_database(DATABASE)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def app(cluster):
    app = create_app(app_settings(cluster))
    yield app
    app.extensions["musicapi.db"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def editor(app, client):
    """A client whose every request carries a fresh user's access token, as
    writes to albums and songs need."""
    editor = app.test_client()
    editor.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {User(client).access_token}"
    return editor


@pytest.fixture
def db_connection(cluster):
    """A direct connection to the app's database, to check what the API stored."""
    connection = psycopg2.connect(host="127.0.0.1", port=cluster.port, user=ROLE, password=PASSWORD, dbname=DATABASE)
    connection.autocommit = True
    with closing(connection):
        yield connection


@pytest.fixture
def user(client):
    return User(client)


@pytest.fixture
def other_user(client):
    return User(client)
