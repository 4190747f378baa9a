"""The database image's entrypoint and health check, run on this host (as
root, with Debian's PostgreSQL 15 as in the image) on a free port: the access
rules it writes, at first start and over data of an earlier image."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest

from .conftest import PG_BIN

DATABASE_DIR = Path(__file__).resolve().parents[3] / "compose" / "database"
ENTRYPOINT = DATABASE_DIR / "entrypoint.sh"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not (PG_BIN / "initdb").exists(),
                                reason="the entrypoint switches to the postgres user: run as root with postgresql")


def health_command(port):
    """The image's HEALTHCHECK, aimed at this test's port."""
    text = (DATABASE_DIR / "Dockerfile").read_text()
    match = re.search(r"HEALTHCHECK .*?CMD (\[.*?\])", text, re.S)
    command = json.loads(match.group(1))
    assert any(arg.startswith("--host=") for arg in command)
    return [arg.replace("--port=5432", f"--port={port}") for arg in command]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Entrypoint:
    def __init__(self, data, port):
        self.data, self.port, self.process = data, port, None

    def start(self, password="entrypoint-test"):
        # PGPORT is PostgreSQL's own default port setting: the image's 5432 here would clash.
        env = {**os.environ, "PGDATA": str(self.data), "PGPORT": str(self.port),
               "POSTGRES_PASSWORD": password, "POSTGRES_PASSWORD_FILE": "/nonexistent"}
        self.process = subprocess.Popen(["bash", str(ENTRYPOINT)], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while subprocess.run(health_command(self.port), capture_output=True).returncode != 0:
            assert self.process.poll() is None, self.process.stdout.read()
            assert time.monotonic() < deadline, "not healthy within 60 s"
            time.sleep(0.2)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # the image's STOPSIGNAL
            self.process.wait(timeout=30)


@pytest.fixture
def entrypoint():
    root = Path(tempfile.mkdtemp(prefix="musicapp-db-"))
    os.chmod(root, 0o755)
    runner = Entrypoint(root / "data", free_port())
    try:
        yield runner
    finally:
        runner.stop()
        shutil.rmtree(root, ignore_errors=True)


def host_rules(data):
    lines = [line.split() for line in (data / "pg_hba.conf").read_text().splitlines()]
    return [line for line in lines if line and not line[0].startswith("#")]


def app_login(port, password="entrypoint-test"):
    connection = psycopg2.connect(host="127.0.0.1", port=port, user="musicapp", password=password,
                                  dbname="musicapp")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            return cursor.fetchone()
    finally:
        connection.close()


def test_first_start_allows_only_the_containers_own_networks(entrypoint):
    entrypoint.start()
    assert host_rules(entrypoint.data) == [
        ["local", "all", "all", "peer"],
        ["host", "all", "all", "samenet", "scram-sha-256"],
    ]
    # The app's role gets in over TCP with its password (127.0.0.1 is a network of this host).
    assert app_login(entrypoint.port) == ("musicapp",)
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host="127.0.0.1", port=entrypoint.port, user="musicapp", password="wrong",
                         dbname="musicapp").close()


def test_data_of_an_earlier_image_gets_the_narrow_rules_at_the_next_start(entrypoint):
    entrypoint.start()
    entrypoint.stop()
    (entrypoint.data / "pg_hba.conf").write_text(
        "local all all peer\nhost all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n")
    entrypoint.start()
    assert "0.0.0.0/0" not in (entrypoint.data / "pg_hba.conf").read_text()
    assert ["host", "all", "all", "samenet", "scram-sha-256"] in host_rules(entrypoint.data)
    assert app_login(entrypoint.port) == ("musicapp",)


def test_health_check_needs_the_tcp_listener_not_only_the_socket(entrypoint):
    """The first start's temporary server listens on the socket only: the
    health check must not pass then."""
    entrypoint.start()
    entrypoint.stop()
    socket_dir = entrypoint.data.parent / "socket"  # reachable by postgres, unlike pytest's tmp_path
    socket_dir.mkdir()
    shutil.chown(socket_dir, "postgres", "postgres")
    options = f"-c listen_addresses='' -c unix_socket_directories={socket_dir} -p {entrypoint.port}"
    pg_ctl = ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(entrypoint.data), "-w"]
    # -l: the server must not hold our pipes open after pg_ctl returns.
    log = socket_dir / "server.log"
    subprocess.run(pg_ctl + ["-l", str(log), "-o", options, "start"], check=True, capture_output=True, timeout=60)
    try:
        by_socket = subprocess.run([str(PG_BIN / "pg_isready"), f"--host={socket_dir}", f"--port={entrypoint.port}"],
                                   capture_output=True)
        assert by_socket.returncode == 0  # the server is up ...
        assert subprocess.run(health_command(entrypoint.port), capture_output=True).returncode != 0  # ... not healthy
    finally:
        subprocess.run(pg_ctl + ["-m", "fast", "stop"], check=True, capture_output=True, timeout=60)


def test_the_app_role_follows_the_secret_over_kept_data(entrypoint):
    """The export outlives a swarm: a new one (or a trainee's own secret) holds
    another password, and the kept data must still let the app in."""
    entrypoint.start(password="first-swarm")
    assert app_login(entrypoint.port, "first-swarm") == ("musicapp",)
    entrypoint.stop()
    entrypoint.start(password="second-swarm")
    assert app_login(entrypoint.port, "second-swarm") == ("musicapp",)
    with pytest.raises(psycopg2.OperationalError):
        app_login(entrypoint.port, "first-swarm")


def test_a_first_start_killed_during_initdb_is_started_over(entrypoint):
    """Swarm kills a task whose first start outlasts its health check's start
    period (NFS under emulation): the next task found a cluster that initdb
    never finished (PG_VERSION, no `postgres` database) and failed for ever."""
    env = {**os.environ, "PGDATA": str(entrypoint.data), "PGPORT": str(entrypoint.port),
           "POSTGRES_PASSWORD": "entrypoint-test", "POSTGRES_PASSWORD_FILE": "/nonexistent"}
    first = subprocess.Popen(["bash", str(ENTRYPOINT)], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while not (entrypoint.data / "PG_VERSION").exists():
        assert first.poll() is None and time.monotonic() < deadline, "initdb did not start"
        time.sleep(0.005)
    os.killpg(first.pid, signal.SIGKILL)  # as swarm's kill lands: no cleanup
    first.wait()
    # The state this test is about: initdb begun, never finished.
    assert (entrypoint.data / "PG_VERSION").exists()
    assert not (entrypoint.data / "base" / "5").exists(), "initdb finished before the kill"

    entrypoint.start()
    assert app_login(entrypoint.port) == ("musicapp",)
