"""Tutorial step 9: the app answers: the login page in a browser, the API
behind it. Checked from this machine, through 127.0.0.1, as a browser would."""
from __future__ import annotations

import html
import re

from ..checks.http import request
from . import Context, type_solution, Problem

NAME = "verify: the login page and the API answer"


def teach(ctx: Context) -> list[tuple[str, str]]:
    m = ctx.config.manager
    return [(m.name, f"docker stack services {ctx.config.stack_name}"),
            (m.name, f"curl -fsS http://{m.address}/login"),
            ("host", f"curl -fsS {ctx.config.web_url}login")]


def get(url: str, timeout: float):
    try:
        return request("GET", url, timeout=timeout)
    except OSError:
        return None


def check(ctx: Context) -> list[str]:
    problems = []
    page = get(f"{ctx.config.web_url}login", 5 * ctx.patience)
    title = re.search(r"<title>(.*?)</title>", page.text, re.S) if page else None
    if page is None or page.status != 200 or not title or \
            html.unescape(title.group(1)).strip() != f"{ctx.config.app_name} | Login":
        problems.append(Problem("app_page_down", url=f"{ctx.config.web_url}login",
                                status=page.status if page else "no answer"))
    health = get(f"{ctx.config.api_url}health", 5 * ctx.patience)
    if health is None or health.status != 200:
        problems.append(Problem("app_api_down", url=f"{ctx.config.api_url}health",
                                status=health.status if health else "no answer"))
    return problems


def apply(ctx: Context, step, missing) -> None:
    """The trainee's step: typing its solution is all there is to do."""
    type_solution(ctx, teach(ctx))
