"""PostgreSQL access: a small connection pool per process, and the schema at start.

If PostgreSQL is not up when the API starts (swarm starts services in no
particular order), start-up waits DB_WAIT_SECONDS for it, then serves anyway
instead of exiting: /health answers 503 and every other request retries the
schema, so the API recovers by itself once the database appears, without a
restart loop.

Connections are kept between requests and checked before each reuse: after
PostgreSQL restarts (or the db task moves), the first request finds the kept
connections dead, drops them and opens a fresh one instead of failing. While
the database is away, requests answer 503.
"""
import logging
import os
import threading
import time
from contextlib import contextmanager

import psycopg2
from flask import current_app
from psycopg2 import extensions

from .schema import create_schema

log = logging.getLogger(__name__)

EXTENSION_KEY = "musicapi.db"

# Errors meaning the connection is unusable, as opposed to a failed statement.
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)

# How long a request waits for a free connection before answering 503.
CHECKOUT_TIMEOUT = 10


class PoolExhausted(psycopg2.OperationalError):
    """No connection became free in time; handled as "database unavailable"."""


class ConnectionPool:
    """At most `size` connections; idle ones are kept and pinged before reuse."""

    def __init__(self, dsn, size):
        self._dsn = dsn
        self._slots = threading.BoundedSemaphore(size)
        self._idle = []
        self._lock = threading.Lock()

    def acquire(self):
        if not self._slots.acquire(timeout=CHECKOUT_TIMEOUT):
            raise PoolExhausted("no free database connection")
        try:
            return self._healthy_idle() or psycopg2.connect(**self._dsn)
        except BaseException:
            self._slots.release()
            raise

    def release(self, connection, broken=False):
        try:
            if broken or connection.closed or not _is_idle(connection):
                connection.close()
            else:
                with self._lock:
                    self._idle.append(connection)
        finally:
            self._slots.release()

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _healthy_idle(self):
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection = self._idle.pop()
            if _answers(connection):
                return connection
            connection.close()


def _is_idle(connection):
    return connection.info.transaction_status == extensions.TRANSACTION_STATUS_IDLE


def _answers(connection):
    # One round trip: a server that restarted, or a backend ended by
    # pg_terminate_backend, shows up here instead of in the request's query.
    if connection.closed:
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        connection.rollback()
        return True
    except CONNECTION_ERRORS:
        return False


class Database:
    # One per gunicorn thread (the Dockerfile's --threads), so none waits for another.
    def __init__(self, settings, max_connections=8):
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
        self._refresh_token_age = settings["REFRESH_TOKEN_AGE"]
        self._pool = None
        self._pool_pid = None
        self._lock = threading.Lock()
        self._schema_ready = False

    @contextmanager
    def cursor(self):
        """Yield a cursor in its own transaction: committed on success, rolled back on error."""
        pool = self._process_pool()
        connection = pool.acquire()
        broken = False
        try:
            with connection, connection.cursor() as cursor:
                yield cursor
        except CONNECTION_ERRORS:
            broken = True
            raise
        finally:
            pool.release(connection, broken)

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
                create_schema(cursor, self._refresh_token_age)
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
                self._pool.close()
            self._pool = None

    def _process_pool(self):
        # Built lazily and per process: a pool created before gunicorn forks
        # would have its sockets shared between workers.
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ConnectionPool(self._dsn, self._max_connections)
                self._pool_pid = os.getpid()
            return self._pool


def get_db():
    return current_app.extensions[EXTENSION_KEY]
