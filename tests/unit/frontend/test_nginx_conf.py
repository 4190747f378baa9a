"""The three nginx configs: what they must say (read as text), and whether
nginx itself accepts them (Debian's nginx on this host, see ./labctl)."""
import subprocess
from pathlib import Path

import pytest

from nginx_conf import effective, nginx_binary, parse, with_local_temp_dirs

NGINX_DIR = Path(__file__).resolve().parents[3] / "nginx"
RESOLVER = ["127.0.0.11", "valid=5s", "ipv6=off"]
FORWARDED = {"Host", "X-Forwarded-For", "X-Forwarded-Proto"}

# conf file -> {listen port: (upstream name, upstream port)}
ROUTES = {
    "nginx-frontend.conf": {"80": ("frontend", "3000")},
    "nginx-backend.conf": {"8080": ("backend", "5000")},
    "mesh.conf": {"80": ("nginx-frontend", "80"), "8080": ("nginx-backend", "8080")},
}


def read(name):
    return (NGINX_DIR / name).read_text()


def servers(conf):
    http = conf.one("http")
    return http, {server.one("listen").args[0]: server for server in http.all("server")}


@pytest.mark.parametrize("name", ROUTES)
def test_main_context_is_complete_and_logs_to_the_container(name):
    conf = parse(read(name))
    assert conf.one("worker_processes").args == ["auto"]
    assert conf.one("events").is_block
    assert conf.one("error_log").args[0] == "/dev/stderr"
    assert conf.one("http").one("access_log").args == ["/dev/stdout"]
    # The image's CMD adds `daemon off;`; saying it twice is an nginx error.
    assert not conf.all("daemon")


@pytest.mark.parametrize("name", ROUTES)
def test_names_are_resolved_again_by_docker_dns(name):
    assert parse(read(name)).one("http").one("resolver").args == RESOLVER


@pytest.mark.parametrize("name, routes", ROUTES.items())
def test_each_port_proxies_through_a_variable(name, routes):
    http, by_port = servers(parse(read(name)))
    assert set(by_port) == set(routes)
    for port, (upstream, upstream_port) in routes.items():
        location = by_port[port].one("location", "/")
        assert location.one("set").args == ["$up", upstream]
        assert location.one("proxy_pass").args == [f"http://$up:{upstream_port}"]
        headers = effective("proxy_set_header", http, by_port[port], location)
        assert {header for header, _ in headers} >= FORWARDED


@pytest.mark.parametrize("name", ROUTES)
def test_no_proxy_pass_names_a_host_literally(name):
    """A literal host is resolved once at start: nginx refuses to start before
    the service has a task, and keeps a moved task's old address."""
    text = read(name)
    passes = [line.split()[1] for line in text.splitlines() if line.strip().startswith("proxy_pass")]
    assert passes and all("$" in target for target in passes)


@pytest.mark.parametrize("name", ["nginx-frontend.conf", "nginx-backend.conf"])
def test_server_name_is_localhost_with_a_hint_for_a_domain(name):
    _, by_port = servers(parse(read(name)))
    (server,) = by_port.values()
    assert server.one("server_name").args == ["localhost"]
    lines = read(name).splitlines()
    index = next(i for i, line in enumerate(lines) if "server_name localhost;" in line)
    assert "domain" in lines[index - 1] and lines[index - 1].strip().startswith("#")


def test_mesh_marks_every_answer_as_a_stand_in():
    http, by_port = servers(parse(read("mesh.conf")))
    for server in by_port.values():
        location = server.one("location", "/")
        headers = effective("add_header", http, server, location)
        assert ("X-Lab-Stand-In", "routing-mesh", "always") in headers


def test_mesh_says_why_it_exists():
    header = read("mesh.conf").split("\n\n")[0]
    assert "IPVS" in header and "routing mesh" in header and "README" in header


@pytest.mark.parametrize("name", ROUTES)
def test_nginx_accepts_the_config(name, tmp_path):
    # Not skipped when nginx is missing: ./labctl installs Debian's nginx
    # (without starting it), so a skip here would hide a broken conf.
    nginx = nginx_binary()
    assert nginx, "no nginx binary here: ./labctl installs it (apt-get install nginx), or set NGINX_BIN"
    copy = tmp_path / name
    copy.write_text(with_local_temp_dirs(read(name), tmp_path))
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-e", "stderr", "-c", str(copy)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_nginx_frontend_adds_its_headers_once_and_keeps_the_pages_policy(tmp_path, settings):
    import http.client
    import threading

    from werkzeug.serving import make_server

    from musicweb import create_app
    from nginx_conf import running

    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with running("nginx-frontend.conf", tmp_path, ("frontend", 3000), server.server_port) as port:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/login")
            response = connection.getresponse()
            assert response.status == 200 and b"Login" in response.read()
            headers = [(k.lower(), v) for k, v in response.getheaders()]
            connection.close()
    finally:
        server.shutdown()

    def values(name):
        return [value for key, value in headers if key == name]

    assert values("x-content-type-options") == ["nosniff"]
    assert values("referrer-policy") == ["no-referrer"]
    policies = values("content-security-policy")
    # The page's own policy (scripts, the API's origin) and nginx's, which only forbids framing.
    assert len(policies) == 2 and "frame-ancestors 'none'" in policies
    page_policy = next(p for p in policies if p != "frame-ancestors 'none'")
    assert "script-src 'self'" in page_policy and "connect-src http://127.0.0.1:8081" in page_policy
