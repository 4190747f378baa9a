"""The frontend's and the shared nginx Dockerfile, read as text: they build on
the lab's own base and copy files that exist in their build context; the lab
builds each nginx image with its own conf."""
import json
import re
import sys
from pathlib import Path

import pytest

from nginx_conf import parse

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from lab.steps.app_images import PROXIES as NGINX_IMAGES  # noqa: E402


def instructions(image):
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = (REPO / "compose" / image / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), " ".join(rest.split())))
    return pairs


def values(image, keyword):
    return [rest for key, rest in instructions(image) if key == keyword]


@pytest.mark.parametrize("image", ["frontend", "nginx-proxy"])
def test_builds_on_the_labs_own_debian(image):
    assert instructions(image)[:2] == [("ARG", "BASE=lab/debian:bookworm"), ("FROM", "${BASE}")]


@pytest.mark.parametrize("image", ["frontend", "nginx-proxy"])
def test_apt_lists_do_not_stay_in_the_image(image):
    first_run = values(image, "RUN")[0]
    assert first_run.startswith("apt-get update && apt-get install -y --no-install-recommends ")
    assert "apt-get clean" in first_run and "rm -rf /var/lib/apt/lists/*" in first_run


def test_frontend_gets_flask_and_gunicorn_from_debian():
    packages = values("frontend", "RUN")[0].split("--no-install-recommends ")[1].split(" &&")[0]
    assert packages.split() == ["python3-flask", "gunicorn"]


def test_frontend_copies_what_its_context_has(frontend_dir):
    sources = [rest.split()[0] for rest in values("frontend", "COPY")]
    assert ".env" in sources
    ignore_lines = (frontend_dir / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in ignore_lines if not line.startswith("#")]
    assert ".env" not in patterns and "*" not in patterns
    # .env is written by whoever builds (the lab, or a trainee from .env.example).
    for source in sources:
        assert source == ".env" or (frontend_dir / source).exists(), source


def test_frontend_runs_unprivileged_on_port_3000():
    users = values("frontend", "USER")
    assert users and users[-1] not in ("root", "0")
    assert values("frontend", "EXPOSE") == ["3000"]
    command = json.loads(values("frontend", "CMD")[0])
    assert command[0] == "gunicorn"
    assert "0.0.0.0:3000" in command and "--preload" in command
    assert command[-1] == "wsgi:app"


def test_the_nginx_image_installs_and_checks_the_conf_it_is_given():
    assert values("nginx-proxy", "COPY") == ["nginx/${CONF} /etc/nginx/nginx.conf"]
    steps = instructions("nginx-proxy")
    assert steps.index(("ARG", "CONF")) < steps.index(("COPY", "nginx/${CONF} /etc/nginx/nginx.conf")) \
        < steps.index(("RUN", "nginx -t"))
    assert json.loads(values("nginx-proxy", "CMD")[0]) == ["nginx", "-g", "daemon off;"]


@pytest.mark.parametrize("image, conf", NGINX_IMAGES.items())
def test_each_nginx_image_has_its_conf_and_listens_where_the_stack_expects(image, conf):
    assert (REPO / "nginx" / conf).exists()
    http = parse((REPO / "nginx" / conf).read_text()).one("http")
    listens = {server.one("listen").args[0] for server in http.all("server")}
    assert listens == {"nginx-frontend": {"80"}, "nginx-backend": {"8080"}, "mesh": {"80", "8080"}}[image]
