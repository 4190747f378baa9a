"""PostgreSQL access: a small connection pool per process, and the schema at start.

If PostgreSQL is not up when the API starts (swarm starts services in no
particular order), start-up waits DB_WAIT_SECONDS for it, then serves anyway
instead of exiting: /health answers 503 and every other request retries the
schema, so the API recovers by itself once the database appears, without a
restart loop.
"""
import logging
import os
import threading
import time
from contextlib import contextmanager

import psycopg2
from flask import current_app
from psycopg2.pool import ThreadedConnectionPool

from .schema import create_schema

log = logging.getLogger(__name__)

EXTENSION_KEY = "musicapi.db"

# Errors meaning the connection is unusable, as opposed to a failed statement.
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


class Database:
    def __init__(self, settings, max_connections=4):
        self._dsn = {
            "host": settings["PGHOST"],
            "port": settings["PGPORT"],
            "dbname": settings["PGDATABASE"],
            "user": settings["PGUSER"],
            "password": settings["PGPASSWORD"],
            # A dead host must not hang a request (or /health) for minutes.
            "connect_timeout": 5,
            "application_name": "musicapi",
        }
        self._max_connections = max_connections
        self._pool = None
        self._pool_pid = None
        self._lock = threading.Lock()
        self._schema_ready = False

    @contextmanager
    def cursor(self):
        """Yield a cursor in its own transaction: committed on success, rolled back on error."""
        pool = self._process_pool()
        connection = pool.getconn()
        broken = False
        try:
            with connection, connection.cursor() as cursor:
                yield cursor
        except CONNECTION_ERRORS:
            broken = True
            raise
        finally:
            # A connection that lost its server (e.g. PostgreSQL restarted) is
            # dropped so that the next request opens a fresh one.
            pool.putconn(connection, close=broken or bool(connection.closed))

    def ping(self):
        with self.cursor() as cursor:
            cursor.execute("SELECT 1")

    def ensure_schema(self):
        """Create the tables once per process; raises OperationalError if the server is away."""
        if self._schema_ready:
            return
        # A connection of its own, closed at once: gunicorn --preload runs this in
        # the master, whose open sockets the forked workers must not inherit.
        connection = psycopg2.connect(**self._dsn)
        try:
            with connection, connection.cursor() as cursor:
                create_schema(cursor)
        finally:
            connection.close()
        self._schema_ready = True

    def wait_for_schema(self, seconds):
        """Retry ensure_schema for up to `seconds`; return whether it succeeded."""
        deadline = time.monotonic() + seconds
        attempt = 0
        while True:
            try:
                self.ensure_schema()
                return True
            except psycopg2.OperationalError as error:
                if time.monotonic() >= deadline:
                    log.warning("database unreachable after %s s, serving anyway (/health answers 503): %s",
                                seconds, str(error).strip())
                    return False
                if attempt == 0:
                    log.info("waiting for the database: %s", str(error).strip())
            attempt += 1
            time.sleep(1)

    def close(self):
        with self._lock:
            if self._pool is not None and self._pool_pid == os.getpid():
                self._pool.closeall()
            self._pool = None

    def _process_pool(self):
        # Built lazily and per process: a pool created before gunicorn forks
        # would have its sockets shared between workers.
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadedConnectionPool(0, self._max_connections, **self._dsn)
                self._pool_pid = os.getpid()
            return self._pool


def get_db():
    return current_app.extensions[EXTENSION_KEY]
