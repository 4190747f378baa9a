"""Tutorial step 4: the frontend's settings (compose/frontend/.env): the app's
name and the API's address as the *browser* reaches it."""
from __future__ import annotations

import re
import shlex
from urllib.parse import urlsplit

from . import Context, type_solution, Problem, app_source

NAME = "frontend .env: the app's name and the API's public address"
ENV = "compose/frontend/.env"
# nginx-backend's port on the manager (the tutorial's compose file).
API_PORT = 8080
LOOPBACK = ("127.0.0.1", "localhost")


def content(ctx: Context) -> str:
    return f'APP_NAME="{ctx.config.app_name}"\nAPI_ENDPOINT="{ctx.config.api_url}"\n'


def teach(ctx: Context) -> list[tuple[str, str]]:
    text = content(ctx).replace("\n", "\\n")
    return [(ctx.config.manager.name, f"printf {shlex.quote(text)} > {app_source.CLONE}/{ENV}")]


def parse(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        match = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$", line)
        if match and not line.lstrip().startswith("#"):
            value = match.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[match.group(1)] = value
    return values


def accepted(ctx: Context) -> list[str]:
    """Addresses a browser on this machine reaches nginx-backend at: the host's
    forward on 127.0.0.1, or the manager's lab address and nginx-backend's port."""
    port = ctx.config.host_ports.api
    return [ctx.config.api_url, f"http://localhost:{port}/", f"http://{ctx.config.manager.address}:{API_PORT}/"]


def endpoint_problem(ctx: Context, value: str) -> Problem | None:
    m = ctx.config.manager.name
    want = " or ".join(accepted(ctx)[::2])
    if not value:
        return Problem("env_no_api", node=m, want=want)
    if value in accepted(ctx):
        return None
    parts = urlsplit(value)
    if parts.hostname in LOOPBACK:
        # The browser runs on the trainee's machine: localhost is that machine,
        # where only the lab's forward answers.
        return Problem("env_api_localhost", node=m, value=value, want=want)
    if value.rstrip("/") + "/" in accepted(ctx):
        return Problem("env_api_slash", node=m, value=value)
    return Problem("env_api_other", node=m, value=value, want=want)


def check(ctx: Context) -> list[str]:
    top = app_source.app_dir(ctx)
    m = ctx.config.manager.name
    if not top:
        return app_source.check(ctx)
    read = ctx.manager_sh(f"cat {top}/{ENV}", check=False, teach=False)
    if not read.ok:
        return [Problem("env_missing", node=m, path=f"{top}/{ENV}")]
    values = parse(read.stdout)
    problems = []
    if not values.get("APP_NAME"):
        problems.append(Problem("env_no_app_name", node=m, path=f"{top}/{ENV}"))
    found = endpoint_problem(ctx, values.get("API_ENDPOINT", ""))
    return problems + ([found] if found else [])


def apply(ctx: Context, step, missing) -> None:
    """The trainee's step: typing its solution is all there is to do."""
    type_solution(ctx, teach(ctx))
