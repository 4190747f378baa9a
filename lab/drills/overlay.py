"""overlay: a network of its own, a server service on the workers and a
client on the manager; the client reaches the server by its service name
across nodes, and N requests are answered by every replica."""
from __future__ import annotations

import json

from .journal import SCRATCH_LABEL
from . import state

NAME = "overlay"
NETWORK = "drill-net"
SERVER = "drill-web"
CLIENT = "drill-client"
REPLICAS = 3
REQUESTS = 30
PORT = 8000
# Answers every GET with the container's hostname, set below to <node>-<slot>.
SERVE = ('import http.server as h,socket;H=type("H",(h.BaseHTTPRequestHandler,),{"do_GET":lambda s:'
         '(s.send_response(200),s.end_headers(),s.wfile.write(socket.gethostname().encode())),'
         '"log_message":lambda *a:None});h.HTTPServer(("",%d),H).serve_forever()' % PORT)
# Each request asks the swarm's DNS for the name again and connects to the
# first address it gets, as any client does.
ASK = ('import json,socket,urllib.request as u,collections as c;n=c.Counter();'
       '[n.update([u.urlopen("http://%%s:%d/"%%socket.gethostbyname("%s"),timeout=3).read().decode()]) '
       'for _ in range(%d)];print(json.dumps(n))' % (PORT, SERVER, REQUESTS))


def run(d) -> str:
    image = f"{d.config.registry}/backend:latest"
    mode = "vip" if d.ctx.caps.ipvs else "dnsrr"
    label = f"--label {SCRATCH_LABEL}={NAME}"
    d.journal.add("network", name=NETWORK)
    d.m(f"docker network create --driver overlay {label} {NETWORK}")
    d.journal.add("service", name=SERVER)
    d.m(f"docker service create --detach --quiet --name {SERVER} {label} --network {NETWORK} "
        f"--replicas {REPLICAS} --replicas-max-per-node 1 --constraint node.role==worker --endpoint-mode {mode} --stop-grace-period 1s "
        f"--hostname '{{{{.Node.Hostname}}}}-{{{{.Task.Slot}}}}' --no-healthcheck {image} python3 -c '{SERVE}'")
    d.journal.add("service", name=CLIENT)
    d.m(f"docker service create --detach --quiet --name {CLIENT} {label} --network {NETWORK} "
        f"--constraint node.role==manager --no-healthcheck --stop-grace-period 1s {image} sleep 600")

    def running(name, n):
        return len([t for t in state.service_tasks(d.ctx, name) if t.running]) == n
    d.wait(f"{SERVER} {REPLICAS}/{REPLICAS} and {CLIENT} 1/1",
           lambda: running(SERVER, REPLICAS) and running(CLIENT, 1), 120)
    d.show(f"docker service ps {SERVER} {CLIENT} --filter desired-state=running")
    servers = state.service_tasks(d.ctx, SERVER)
    client = state.service_tasks(d.ctx, CLIENT)
    d.expect(len({t.node for t in servers}) == REPLICAS, f"{SERVER} tasks are not on {REPLICAS} nodes")
    d.expect(client[0].node not in {t.node for t in servers}, f"{CLIENT} shares a node with {SERVER}")
    exec_in = f"docker exec $(docker ps -q -f label=com.docker.swarm.service.name={CLIENT} | head -1)"
    names = d.m(f"{exec_in} python3 -c 'import socket;print(socket.gethostbyname_ex(\"{SERVER}\")[2])'").out
    d.say(f"{CLIENT} on {client[0].node} resolves {SERVER} to {names}")
    answer = d.m(f"{exec_in} python3 -c '{ASK}'").out
    counts = json.loads(answer.splitlines()[-1])
    d.expect(sum(counts.values()) == REQUESTS, f"{sum(counts.values())} of {REQUESTS} requests answered")
    d.expect(len(counts) == REPLICAS, f"{len(counts)} distinct tasks answered, not {REPLICAS}: {counts}")
    if mode == "dnsrr":
        how = ("DNS round robin (endpoint_mode dnsrr): the swarm's DNS server 127.0.0.11 answers with every task's "
               "address in a new order, and each request went to the first (this kernel has no IPVS for a VIP)")
    else:
        how = ("the service's virtual IP (endpoint_mode vip): the name resolves to one address and IPVS in the "
               "kernel spreads the connections over the tasks")
    d.say(f"balanced by {how}")
    spread = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    d.m(f"docker service rm {SERVER} {CLIENT}")
    d.numbers.update({"requests": REQUESTS, "answered_by": counts, "mechanism": mode})
    return (f"{CLIENT} on {client[0].node} reached {SERVER} by name across nodes; {REQUESTS} requests answered by "
            f"{len(counts)} tasks ({spread}); balanced by {'DNS round robin (dnsrr)' if mode == 'dnsrr' else 'the VIP (IPVS)'}")
