"""The seven demos: the stack each deploys and the rows its reports become.

A stack is a compose file the lab renders (services placed by node.hostname
on the lab's workers, each demo on an overlay network of its own, endpoint
mode dnsrr so names resolve without IPVS, no published port) and deploys
with `docker stack deploy`. The programs are the roles of demo.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import yaml

from .table import Row

IMAGE = "lab-demo"
# Inside the lab's export (the database's NFS directory on VMs, the shared
# directory stand-in on node containers): hidden, and removed after the demo.
EXPORT_SUBDIR = ".lab-demo-filesystem"
PORT = 7000
MQTT_PORT = 1883


@dataclass(frozen=True)
class Settings:
    """What a stack is rendered from."""
    image: str
    messages: int
    size: int
    run_id: str
    workers: tuple[str, ...]
    manager: str
    manager_address: str
    export_path: str
    nfs: bool
    deadline: int

    @property
    def w1(self) -> str:
        return self.workers[0]

    @property
    def w2(self) -> str:
        return self.workers[1]

    @property
    def w3(self) -> str:
        # A lab with two workers puts the third party beside the first.
        return self.workers[2] if len(self.workers) > 2 else self.workers[0]


@dataclass(frozen=True)
class Demo:
    name: str
    render: Callable[[Settings], dict]
    # Services that print a DEMO-REPORT line (the others serve: broker, db).
    reporters: tuple[str, ...]
    rows: Callable[[dict, Settings], list[Row]]
    # The filesystem demo needs its directory in the export before deploying.
    uses_export: bool = False


def service(s: Settings, role: str, node: str, networks: list[str] | None = None, **env) -> dict:
    environment = {"COUNT": s.messages, "SIZE": s.size, "RUN": s.run_id, "DEADLINE": s.deadline,
                   # Swarm fills this in: the node the task runs on, for its report.
                   "NODE": "{{.Node.Hostname}}", **env}
    return {
        "image": s.image,
        "command": [role],
        "environment": {k: str(v) for k, v in environment.items()},
        "networks": networks or ["net"],
        "deploy": {
            # No IPVS in node containers: names resolve to the task itself.
            "endpoint_mode": "dnsrr",
            # A demo program runs once; a restart would only muddle the count.
            "restart_policy": {"condition": "none"},
            "placement": {"constraints": [f"node.hostname == {node}"]},
        },
    }


def stack(services: dict, networks: tuple[str, ...] = ("net",), volumes: dict | None = None) -> dict:
    data = {"version": "3.8", "services": services,
            "networks": {n: {"driver": "overlay"} for n in networks}}
    if volumes:
        data["volumes"] = volumes
    return data


def to_yaml(data: dict, demo: str) -> str:
    header = (f"# Rendered by `invoke lab.demo {demo}`; deployed with\n"
              f"#   docker stack deploy -c demo-{demo}.yaml demo-{demo}\n")
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


# -- renderers ---------------------------------------------------------------

def render_tcp(s: Settings) -> dict:
    return stack({"consumer": service(s, "stream-consumer", s.w2, PORT=PORT),
                  "producer": service(s, "stream-producer", s.w1, PEER="consumer", PORT=PORT)})


def render_udp(s: Settings) -> dict:
    return stack({"consumer": service(s, "udp-consumer", s.w2, PORT=PORT),
                  "producer": service(s, "udp-producer", s.w1, PEER="consumer", PORT=PORT)})


def render_unix(s: Settings) -> dict:
    path = "/sock/demo.sock"
    consumer = service(s, "stream-consumer", s.w1, SOCKET_PATH=path)
    producer = service(s, "stream-producer", s.w1, SOCKET_PATH=path)
    for svc in (consumer, producer):
        svc["volumes"] = ["sock:/sock"]
    return stack({"consumer": consumer, "producer": producer}, volumes={"sock": {"driver": "local"}})


def export_volume(s: Settings) -> dict:
    """The cross-node directory: the manager's NFS export where the kernel has
    NFS, else a bind of the shared directory that stands in for it."""
    device = f"{s.export_path}/{EXPORT_SUBDIR}"
    if s.nfs:
        # No attribute or lookup caching: a file the other node just created
        # must be seen at once, not after the client's cache expires.
        return {"driver": "local", "driver_opts": {
            "type": "nfs", "o": f"addr={s.manager_address},nolock,soft,rw,actimeo=0,lookupcache=none",
            "device": f":{device}"}}
    return {"driver": "local", "driver_opts": {"type": "none", "o": "bind", "device": device}}


def render_filesystem(s: Settings) -> dict:
    producer = service(s, "fs-producer", s.w1, PHASES="one node=/local,two nodes=/shared")
    producer["volumes"] = ["local:/local", "shared:/shared"]
    local = service(s, "fs-consumer", s.w1, DIR="/local")
    local["volumes"] = ["local:/local"]
    remote = service(s, "fs-consumer", s.w2, DIR="/shared")
    remote["volumes"] = ["shared:/shared"]
    return stack({"consumer-local": local, "consumer-shared": remote, "producer": producer},
                 volumes={"local": {"driver": "local"}, "shared": export_volume(s)})


def render_database(s: Settings) -> dict:
    # The writer and the reader each have a network of their own; only the
    # database sits on both, so records are the one path between them.
    db = service(s, "db-server", s.w3, networks=["writer-net", "reader-net"])
    return stack({"db": db,
                  "consumer": service(s, "db-consumer", s.w2, networks=["reader-net"], PEER="db"),
                  "producer": service(s, "db-producer", s.w1, networks=["writer-net"], PEER="db")},
                 networks=("writer-net", "reader-net"))


def render_http(s: Settings) -> dict:
    return stack({"consumer": service(s, "http-consumer", s.w2, PORT=PORT),
                  "producer": service(s, "http-producer", s.w1, PEER="consumer", PORT=PORT)})


def render_mqtt(s: Settings) -> dict:
    broker = service(s, "broker", s.manager)
    broker.pop("command")
    broker["entrypoint"] = ["mosquitto", "-c", "/etc/mosquitto/demo.conf"]
    mqtt = {"PEER": "broker", "PORT": MQTT_PORT}
    return stack({"broker": broker,
                  "subscriber-a": service(s, "mqtt-subscriber", s.w2, NAME="a", **mqtt),
                  "subscriber-b": service(s, "mqtt-subscriber", s.w3, NAME="b", **mqtt),
                  "publisher": service(s, "mqtt-publisher", s.w1, **mqtt)})


# -- reports -> rows ---------------------------------------------------------

def measured(row: Row, producer: dict) -> Row:
    row.median_ms = producer.get("median_ms")
    row.p99_ms = producer.get("p99_ms")
    row.msgs_per_s = producer.get("msgs_per_s")
    return row


def rows_tcp(r: dict, s: Settings) -> list[Row]:
    return [measured(Row("tcp", "tcp", f"{s.w1} -> {s.w2}", s.messages, r["consumer"]["received"], "tcp"),
                     r["producer"])]


def rows_udp(r: dict, s: Settings) -> list[Row]:
    got = r["consumer"]["received"]
    back_lost = got - r["producer"]["echoed"]
    row = Row("udp", "udp", f"{s.w1} -> {s.w2}", s.messages, got, "udp", must_deliver=False,
              note="udp_lost", extra={"lost": s.messages - got, "echoes_lost": back_lost})
    return [measured(row, r["producer"])]


def rows_unix(r: dict, s: Settings) -> list[Row]:
    return [measured(Row("unix", "unix", f"{s.w1} (one node)", s.messages, r["consumer"]["received"], "unix"),
                     r["producer"])]


def rows_filesystem(r: dict, s: Settings) -> list[Row]:
    phases = r["producer"]["phases"]
    local = Row("filesystem", "filesystem (one node)", f"{s.w1} (one node, local volume)", s.messages,
                r["consumer-local"]["received"], "filesystem_local")
    remote = Row("filesystem", "filesystem (two nodes)", f"{s.w1} -> {s.w2} ({'NFS' if s.nfs else 'shared dir'})",
                 s.messages, r["consumer-shared"]["received"], "filesystem_remote",
                 note="nfs" if s.nfs else "stand_in")
    return [measured(local, phases["one node"]), measured(remote, phases["two nodes"])]


def rows_database(r: dict, s: Settings) -> list[Row]:
    return [measured(Row("database", "database", f"{s.w1} -> db on {s.w3} -> {s.w2}", s.messages,
                         r["consumer"]["received"], "database"), r["producer"])]


def rows_http(r: dict, s: Settings) -> list[Row]:
    req, resp = r["consumer"].get("request_header_bytes"), r["producer"].get("response_header_bytes")
    row = Row("http", "http", f"{s.w1} -> {s.w2}", s.messages, r["consumer"]["received"], "http",
              note="http_headers", extra={"request_header_bytes": req, "response_header_bytes": resp,
                                          "size": s.size})
    return [measured(row, r["producer"])]


def rows_mqtt(r: dict, s: Settings) -> list[Row]:
    a, b, pub = r["subscriber-a"], r["subscriber-b"], r["publisher"]
    fan_a, fan_b = a["fanout"]["received"], b["fanout"]["received"]
    path = f"{s.w1} -> broker on {s.manager} -> {s.w2}, {s.w3}"
    cut = {"cut_after": b.get("cut_after")}
    fanout = measured(Row("mqtt", "mqtt fan-out (QoS 1)", path, s.messages, min(fan_a, fan_b), "mqtt_fanout",
                          delivered_text=f"a {fan_a}, b {fan_b}", note="mqtt_path"), pub["fanout"])
    qos0 = Row("mqtt", "mqtt QoS 0, cut mid-run", f"broker on {s.manager} -> {s.w3}", s.messages,
               b["qos0"]["received"], "mqtt_qos0", must_deliver=False, note="mqtt_cut", extra=cut)
    qos1 = Row("mqtt", "mqtt QoS 1, cut mid-run", f"broker on {s.manager} -> {s.w3}", s.messages,
               b["qos1"]["received"], "mqtt_qos1", note="mqtt_cut", extra=cut)
    retained = a.get("retained") or {}
    late = Row("mqtt", "mqtt retained, late subscriber", f"broker on {s.manager} -> {s.w2}", 1,
               1 if retained.get("received") and retained.get("payload") == pub.get("retained") else 0,
               "mqtt_retained", extra={"retain_flag": retained.get("retain_flag")})
    return [fanout, qos0, qos1, late]


DEMOS = {d.name: d for d in (
    Demo("tcp", render_tcp, ("consumer", "producer"), rows_tcp),
    Demo("udp", render_udp, ("consumer", "producer"), rows_udp),
    Demo("unix", render_unix, ("consumer", "producer"), rows_unix),
    Demo("filesystem", render_filesystem, ("consumer-local", "consumer-shared", "producer"), rows_filesystem,
         uses_export=True),
    Demo("database", render_database, ("consumer", "producer"), rows_database),
    Demo("http", render_http, ("consumer", "producer"), rows_http),
    Demo("mqtt", render_mqtt, ("subscriber-a", "subscriber-b", "publisher"), rows_mqtt),
)}
NAMES = tuple(DEMOS)
