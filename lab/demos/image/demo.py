"""The small programs of `invoke lab.demo`: one producer and one consumer per
mechanism, run as swarm services from the lab-demo image.

    python3 demo.py ROLE        (settings come from the environment)

N messages of S bytes (payload() in measure.py); the producer times each
round trip (the consumer sends every message back). Each program ends by
printing one line `DEMO-REPORT {json}`: the lab reads it with
`docker service logs`, and asserts delivery from the consumer's own line.
"""
from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from measure import payload, received_report, seq_of, summarize

N = int(os.environ.get("COUNT", "200"))
S = int(os.environ.get("SIZE", "64"))
PEER = os.environ.get("PEER", "consumer")
PORT = int(os.environ.get("PORT", "7000"))
RUN = os.environ.get("RUN", "run")
# Every wait of a program ends: a demo never hangs a class.
DEADLINE = time.monotonic() + float(os.environ.get("DEADLINE", "150"))


def report(role: str, **fields) -> None:
    node = os.environ.get("NODE") or socket.gethostname()
    print("DEMO-REPORT " + json.dumps({"role": role, "node": node, **fields}), flush=True)


def say(text: str) -> None:
    print(text, flush=True)


def left() -> float:
    remaining = DEADLINE - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the demo's deadline passed")
    return remaining


def retry(what: str, attempt):
    """Until it works or the deadline: the peer's task may still be starting
    and its DNS name (dnsrr) appears only when it runs."""
    while True:
        try:
            return attempt()
        except (OSError, ConnectionError) as exc:
            if DEADLINE - time.monotonic() <= 0:
                raise TimeoutError(f"{what}: {exc}") from exc
            time.sleep(0.2)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# -- stream sockets: tcp (across nodes) and unix (a socket file on one node) --

def stream_listener() -> socket.socket:
    if os.environ.get("SOCKET_PATH"):
        path = os.environ["SOCKET_PATH"]
        Path(path).unlink(missing_ok=True)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
    else:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", PORT))
    srv.listen(1)
    return srv


def stream_connect() -> socket.socket:
    if os.environ.get("SOCKET_PATH"):
        def attempt():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(os.environ["SOCKET_PATH"])
            except OSError:
                s.close()
                raise
            return s
        return retry(f"connect to {os.environ['SOCKET_PATH']}", attempt)

    def attempt():
        s = socket.create_connection((PEER, PORT), timeout=2)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    return retry(f"connect to {PEER}:{PORT}", attempt)


def stream_consumer() -> None:
    srv = stream_listener()
    srv.settimeout(left())
    say(f"listening on {os.environ.get('SOCKET_PATH') or f'0.0.0.0:{PORT}'}")
    conn, _ = srv.accept()
    if conn.family == socket.AF_INET:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.settimeout(left())
    seqs, damaged = set(), 0
    for _ in range(N):
        data = recv_exactly(conn, S)
        if not data:
            break
        seq = seq_of(data, S)
        if seq is None:
            damaged += 1
        else:
            seqs.add(seq)
        conn.sendall(data)
    conn.close()
    report("consumer", **received_report(seqs, N, damaged))


def stream_producer() -> None:
    sock = stream_connect()
    sock.settimeout(10)
    rtts, echoed = [], 0
    start = time.perf_counter()
    for seq in range(N):
        msg = payload(seq, S)
        t0 = time.perf_counter_ns()
        sock.sendall(msg)
        back = recv_exactly(sock, S)
        rtts.append(time.perf_counter_ns() - t0)
        echoed += back == msg
    elapsed = time.perf_counter() - start
    sock.close()
    report("producer", sent=N, echoed=echoed, **summarize(rtts, elapsed))


# -- datagrams: udp, no connection, no retransmission -----------------------

HELLO, READY, END = b"HELLO", b"READY", b"END"


def udp_consumer() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", PORT))
    say(f"listening on udp 0.0.0.0:{PORT}")
    seqs, damaged, last = set(), 0, None
    while True:
        # After the first message, 3 quiet seconds mean the producer is done
        # even if its END datagram was lost too.
        wait = left() if last is None else min(left(), 3 - (time.monotonic() - last))
        if wait <= 0 or not select.select([sock], [], [], wait)[0]:
            break
        data, addr = sock.recvfrom(65535)
        if data == HELLO:
            sock.sendto(READY, addr)
            continue
        if data == END:
            break
        last = time.monotonic()
        seq = seq_of(data, S)
        if seq is None:
            damaged += 1
        else:
            seqs.add(seq)
        sock.sendto(data, addr)
    report("consumer", **received_report(seqs, N, damaged))


def udp_producer() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def handshake():
        # Not counted: datagrams sent before the consumer is bound are lost
        # for a reason that has nothing to do with the network.
        sock.sendto(HELLO, (PEER, PORT))
        if not select.select([sock], [], [], 0.5)[0] or sock.recv(64) != READY:
            raise ConnectionError("no READY yet")
    retry(f"handshake with {PEER}:{PORT}", handshake)
    addr = (socket.gethostbyname(PEER), PORT)
    timeout = float(os.environ.get("UDP_TIMEOUT", "0.5"))
    rtts, echoed = [], 0
    start = time.perf_counter()
    for seq in range(N):
        msg = payload(seq, S)
        t0 = time.perf_counter_ns()
        sock.sendto(msg, addr)
        # An echo that does not come back in time is given up: UDP itself
        # never resends anything.
        while select.select([sock], [], [], timeout)[0]:
            data = sock.recv(65535)
            if data == msg:
                rtts.append(time.perf_counter_ns() - t0)
                echoed += 1
                break
    elapsed = time.perf_counter() - start
    for _ in range(3):
        sock.sendto(END, addr)
    report("producer", sent=N, echoed=echoed, **summarize(rtts, elapsed))


# -- a shared filesystem: files written by one, read by the other -----------

def fs_path(root: str, kind: str, seq: int) -> Path:
    return Path(root) / f"{RUN}-{kind}-{seq}"


def write_atomically(path: Path, data: bytes) -> None:
    # A reader polling for the name sees either nothing or the whole file.
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(data)
    os.rename(tmp, path)


def wait_for(path: Path, poll: float = 0.0005) -> None:
    while not path.exists():
        left()
        time.sleep(poll)


def fs_consumer() -> None:
    root = os.environ["DIR"]
    Path(root).mkdir(parents=True, exist_ok=True)
    write_atomically(Path(root) / f"{RUN}-ready", b"ready")
    say(f"reading messages from {root}")
    seqs, damaged = set(), 0
    for seq in range(N):
        msg = fs_path(root, "m", seq)
        try:
            wait_for(msg)
        except TimeoutError:
            break
        data = msg.read_bytes()
        got = seq_of(data, S)
        if got is None:
            damaged += 1
        else:
            seqs.add(got)
        write_atomically(fs_path(root, "a", seq), data)
        msg.unlink()
    report("consumer", dir=root, **received_report(seqs, N, damaged))


def fs_producer() -> None:
    rows = {}
    for phase, root in (item.split("=", 1) for item in os.environ["PHASES"].split(",")):
        wait_for(Path(root) / f"{RUN}-ready", poll=0.05)
        rtts, echoed = [], 0
        start = time.perf_counter()
        for seq in range(N):
            msg = payload(seq, S)
            t0 = time.perf_counter_ns()
            write_atomically(fs_path(root, "m", seq), msg)
            ack = fs_path(root, "a", seq)
            wait_for(ack)
            rtts.append(time.perf_counter_ns() - t0)
            echoed += ack.read_bytes() == msg
            ack.unlink()
        rows[phase] = dict(sent=N, echoed=echoed, **summarize(rtts, time.perf_counter() - start))
        (Path(root) / f"{RUN}-ready").unlink(missing_ok=True)
    report("producer", phases=rows)


# -- database records: PostgreSQL between two services ----------------------

def db_server() -> None:
    """A throwaway PostgreSQL for the demo: trust on its own overlay network,
    data in the container (it goes with the stack)."""
    data = "/tmp/pgdata"
    as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    Path(data).mkdir(exist_ok=True)
    os.chown(data, *postgres_ids())
    Path("/run/postgresql").mkdir(exist_ok=True)
    os.chown("/run/postgresql", *postgres_ids())
    subprocess.run(as_pg + ["/usr/lib/postgresql/15/bin/initdb", "-D", data, "-U", "postgres",
                            "--auth=trust", "--no-instructions"], check=True, stdout=subprocess.DEVNULL)
    with open(f"{data}/pg_hba.conf", "a") as hba:
        hba.write("host all all 0.0.0.0/0 trust\n")
    os.execvp("setpriv", as_pg + ["/usr/lib/postgresql/15/bin/postgres", "-D", data,
                                  "-c", "listen_addresses=*"])


def postgres_ids() -> tuple[int, int]:
    import pwd
    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


def db_connect():
    import psycopg2

    def attempt():
        try:
            conn = psycopg2.connect(host=PEER, user="postgres", dbname="postgres", connect_timeout=2)
        except psycopg2.OperationalError as exc:
            raise ConnectionError(str(exc).strip()) from exc
        conn.autocommit = True
        return conn
    conn = retry(f"connect to PostgreSQL on {PEER}", attempt)
    with conn.cursor() as cur:
        # Both sides create what they use; one of them wins the race.
        for statement in ("CREATE TABLE IF NOT EXISTS msgs (seq int PRIMARY KEY, body bytea)",
                          "CREATE TABLE IF NOT EXISTS acks (seq int PRIMARY KEY, body bytea)",
                          "CREATE TABLE IF NOT EXISTS readers (name text PRIMARY KEY)"):
            retry("create the demo's tables", lambda: _ignore_races(cur, statement))
    return conn


def _ignore_races(cur, statement: str) -> None:
    import psycopg2
    try:
        cur.execute(statement)
    except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable):
        pass


def wait_notify(conn, channel: str, poll_sql: str, args) -> bytes | None:
    """The row the other side wrote: NOTIFY wakes us at once; the query
    alone would also find it (a notification is only a hint)."""
    with conn.cursor() as cur:
        while True:
            conn.notifies.clear()
            cur.execute(poll_sql, args)
            row = cur.fetchone()
            if row:
                return bytes(row[0])
            # psycopg2 reads a notification that arrives during the query
            # itself: the socket then stays quiet, so look before waiting.
            if conn.notifies:
                continue
            if select.select([conn], [], [], min(left(), 1.0))[0]:
                conn.poll()


def db_consumer() -> None:
    conn = db_connect()
    with conn.cursor() as cur:
        cur.execute("LISTEN msgs")
        cur.execute("INSERT INTO readers VALUES (%s) ON CONFLICT DO NOTHING", (socket.gethostname(),))
    say("listening on channel msgs")
    seqs, damaged = set(), 0
    for seq in range(N):
        try:
            data = wait_notify(conn, "msgs", "SELECT body FROM msgs WHERE seq = %s", (seq,))
        except TimeoutError:
            break
        got = seq_of(data, S)
        if got is None:
            damaged += 1
        else:
            seqs.add(got)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO acks VALUES (%s, %s); NOTIFY acks", (seq, data))
    report("consumer", **received_report(seqs, N, damaged))


def db_producer() -> None:
    conn = db_connect()
    with conn.cursor() as cur:
        cur.execute("LISTEN acks")
        while True:
            cur.execute("SELECT count(*) FROM readers")
            if cur.fetchone()[0]:
                break
            left()
            time.sleep(0.1)
    rtts, echoed = [], 0
    start = time.perf_counter()
    for seq in range(N):
        msg = payload(seq, S)
        t0 = time.perf_counter_ns()
        with conn.cursor() as cur:
            cur.execute("INSERT INTO msgs VALUES (%s, %s); NOTIFY msgs", (seq, msg))
        back = wait_notify(conn, "acks", "SELECT body FROM acks WHERE seq = %s", (seq,))
        rtts.append(time.perf_counter_ns() - t0)
        echoed += back == msg
    report("producer", sent=N, echoed=echoed, **summarize(rtts, time.perf_counter() - start))


# -- HTTP: one POST per message, the response carries it back ---------------

def http_consumer() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = {"seqs": set(), "damaged": 0, "header_bytes": 0, "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            # Headers and body leave in two writes: with Nagle's algorithm on,
            # the body would wait for the client's delayed ACK (40 ms here).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/end":
                self.send_response(204)
                self.end_headers()
                self.server.done = True
                return
            state["requests"] += 1
            state["header_bytes"] += len(self.requestline) + 2 + len(bytes(self.headers))
            seq = seq_of(body, S)
            if seq is None:
                state["damaged"] += 1
            else:
                state["seqs"].add(seq)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    srv.done = False
    srv.timeout = 0.5
    say(f"HTTP server on 0.0.0.0:{PORT}")
    while not srv.done and DEADLINE - time.monotonic() > 0:
        srv.handle_request()
    per_request = round(state["header_bytes"] / state["requests"]) if state["requests"] else None
    report("consumer", request_header_bytes=per_request, **received_report(state["seqs"], N, state["damaged"]))


def http_producer() -> None:
    import http.client

    def attempt():
        conn = http.client.HTTPConnection(PEER, PORT, timeout=5)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn
    conn = retry(f"connect to http://{PEER}:{PORT}", attempt)
    rtts, echoed, response_headers = [], 0, 0
    start = time.perf_counter()
    for seq in range(N):
        msg = payload(seq, S)
        t0 = time.perf_counter_ns()
        conn.request("POST", f"/messages/{seq}", body=msg,
                     headers={"Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        back = resp.read()
        rtts.append(time.perf_counter_ns() - t0)
        echoed += back == msg
        response_headers += len(bytes(resp.msg)) + len(f"HTTP/1.1 {resp.status} {resp.reason}\r\n")
    elapsed = time.perf_counter() - start
    conn.request("POST", "/end", body=b"")
    conn.getresponse().read()
    report("producer", sent=N, echoed=echoed, response_header_bytes=round(response_headers / N),
           **summarize(rtts, elapsed))


# -- MQTT: a broker, one publisher, two subscribers --------------------------

TOPIC = "demo"


def mqtt_client(client_id: str, clean: bool = True):
    import paho.mqtt.client as mqtt
    client = mqtt.Client(client_id=client_id, clean_session=clean)
    retry(f"connect to the broker {PEER}:{PORT}", lambda: client.connect(PEER, PORT, keepalive=30))
    no_delay(client)
    return client


def no_delay(client) -> None:
    # paho leaves Nagle's algorithm on: a PUBACK followed by the next PUBLISH
    # would wait for the broker's delayed ACK (about 40 ms per round trip).
    client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def loop_until(client, done, what: str) -> None:
    while not done():
        if DEADLINE - time.monotonic() <= 0:
            raise TimeoutError(what)
        client.loop(0.05)


def mqtt_subscriber() -> None:
    """Subscriber A echoes the fan-out messages (the publisher times the round
    trip), then joins the retained topic late. Subscriber B cuts its own
    connection in the middle of the QoS phase and comes back with the same
    persistent session: the broker kept its QoS 1 messages, not its QoS 0."""
    import paho.mqtt.client as mqtt
    name = os.environ["NAME"]
    echo = name == "a"
    got = {"fanout": set(), "qos0": set(), "qos1": set()}
    state = {"end": False, "damaged": 0, "cut": None, "reconnected": False}
    client = mqtt_client(f"{RUN}-{name}", clean=False)

    def on_message(c, userdata, msg):
        kind = msg.topic.rsplit("/", 1)[-1]
        if kind == "end":
            state["end"] = True
            return
        seq = seq_of(msg.payload, S)
        if seq is None:
            state["damaged"] += 1
            return
        got[kind].add(seq)
        if echo and kind == "fanout":
            c.publish(f"{TOPIC}/echo", msg.payload, qos=1)

    client.on_message = on_message
    client.subscribe([(f"{TOPIC}/fanout", 1), (f"{TOPIC}/qos0", 0), (f"{TOPIC}/qos1", 1),
                      (f"{TOPIC}/end", 1)])
    client.publish(f"{TOPIC}/ready/{name}", b"1", qos=1, retain=True)
    gap = float(os.environ.get("CUT_SECONDS", "0.5"))
    cut_after = max(1, N // 4)
    while not state["end"]:
        left()
        rc = client.loop(0.05)
        if not echo and state["cut"] is None and len(got["qos1"]) >= cut_after:
            # An abrupt cut (no DISCONNECT packet): what a broken link or a
            # killed subscriber looks like to the broker.
            state["cut"] = len(got["qos1"])
            client.socket().shutdown(socket.SHUT_RDWR)
            say(f"cut the connection to the broker after {state['cut']} QoS 1 messages, back in {gap}s")
        if rc != mqtt.MQTT_ERR_SUCCESS:
            time.sleep(gap)
            retry("reconnect to the broker", client.reconnect)
            no_delay(client)
            state["reconnected"] = True
    # Messages the broker queued while we were away arrive before `end`; a
    # short grace lets in-flight QoS 0 ones land too.
    grace = time.monotonic() + 0.5
    while time.monotonic() < grace:
        client.loop(0.05)
    client.publish(f"{TOPIC}/ready/{name}", b"", qos=1, retain=True)
    client.loop(0.2)
    client.disconnect()
    retained = late_subscriber(name) if echo else None
    report("consumer", name=name, fanout=received_report(got["fanout"], N, state["damaged"]),
           qos0=received_report(got["qos0"], N), qos1=received_report(got["qos1"], N),
           cut_after=state["cut"], reconnected=state["reconnected"], retained=retained)


def late_subscriber(name: str) -> dict:
    """A new connection after everything was published: the broker hands it
    the topic's retained message at once."""
    found = {}
    client = mqtt_client(f"{RUN}-{name}-late")

    def on_message(c, userdata, msg):
        found.update(payload=msg.payload.decode(errors="replace"), retain_flag=bool(msg.retain))
    client.on_message = on_message
    client.subscribe(f"{TOPIC}/retained", 1)
    try:
        loop_until(client, lambda: found, "the retained message")
    except TimeoutError:
        return {"received": False}
    client.disconnect()
    return {"received": True, **found}


def mqtt_publisher() -> None:
    client = mqtt_client(f"{RUN}-publisher")
    ready, echoes = set(), {}

    def on_message(c, userdata, msg):
        if msg.topic.startswith(f"{TOPIC}/ready/") and msg.payload:
            ready.add(msg.topic.rsplit("/", 1)[-1])
        elif msg.topic == f"{TOPIC}/echo":
            echoes[seq_of(msg.payload, S)] = time.perf_counter_ns()
    client.on_message = on_message
    client.subscribe([(f"{TOPIC}/ready/+", 1), (f"{TOPIC}/echo", 1)])
    loop_until(client, lambda: {"a", "b"} <= ready, "both subscribers ready")
    retained_text = f"published before anyone asked ({RUN})"
    client.publish(f"{TOPIC}/retained", retained_text.encode(), qos=1, retain=True)
    rtts = []
    start = time.perf_counter()
    for seq in range(N):
        t0 = time.perf_counter_ns()
        client.publish(f"{TOPIC}/fanout", payload(seq, S), qos=1)
        loop_until(client, lambda: seq in echoes, f"the echo of message {seq}")
        rtts.append(echoes[seq] - t0)
    fanout = summarize(rtts, time.perf_counter() - start)
    # QoS phase: a pair of messages (one per level) every PACE seconds, long
    # enough for subscriber B's cut to fall in the middle of it.
    pace = float(os.environ.get("PACE", "0.01"))
    start = time.perf_counter()
    for seq in range(N):
        client.publish(f"{TOPIC}/qos0", payload(seq, S), qos=0)
        client.publish(f"{TOPIC}/qos1", payload(seq, S), qos=1)
        until = time.monotonic() + pace
        while time.monotonic() < until:
            client.loop(max(0.0, until - time.monotonic()))
    qos_elapsed = time.perf_counter() - start
    info = client.publish(f"{TOPIC}/end", b"end", qos=1)
    loop_until(client, info.is_published, "the end message")
    client.disconnect()
    report("producer", sent=N, fanout=fanout, qos_phase_s=round(qos_elapsed, 3), retained=retained_text)


ROLES = {
    "stream-consumer": stream_consumer, "stream-producer": stream_producer,
    "udp-consumer": udp_consumer, "udp-producer": udp_producer,
    "fs-consumer": fs_consumer, "fs-producer": fs_producer,
    "db-server": db_server, "db-consumer": db_consumer, "db-producer": db_producer,
    "http-consumer": http_consumer, "http-producer": http_producer,
    "mqtt-subscriber": mqtt_subscriber, "mqtt-publisher": mqtt_publisher,
}


def main() -> int:
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in ROLES:
        print(f"usage: demo.py ROLE; roles: {', '.join(ROLES)}", file=sys.stderr)
        return 2
    try:
        ROLES[role]()
    except TimeoutError as exc:
        side = "producer" if role.endswith(("producer", "publisher")) else "consumer"
        report(side, error=str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
