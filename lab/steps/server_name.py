"""Tutorial step 3 (optional): `server_name` in the two nginx confs.

Changing the name is optional; what the check asks is that both files are
still valid nginx, since the images build from them in step 7."""
from __future__ import annotations

import re

from . import Context, Problem, app_source

NAME = "server_name: the nginx confs (optional)"
CONFS = ("nginx/nginx-frontend.conf", "nginx/nginx-backend.conf")
NAMES = {"nginx/nginx-frontend.conf": "music.lab", "nginx/nginx-backend.conf": "api.music.lab"}
# A name nginx takes: a host name (with a leading or trailing *), _, or a regex.
VALID_NAME = re.compile(r"^(~.+|\*?\.?[A-Za-z0-9][A-Za-z0-9.-]*\*?|\*\.[A-Za-z0-9.-]+|_|\"\")$")
# Directives found among server_name's values mean its `;` is missing.
DIRECTIVES = {"listen", "location", "root", "proxy_pass", "return", "set", "resolver", "index", "include",
              "server", "add_header", "client_max_body_size", "error_page", "limit_req"}


def teach(ctx: Context) -> list[tuple[str, str]]:
    m = ctx.config.manager.name
    return [(m, f"sed -i 's/server_name [^;]*;/server_name {name};/' {app_source.CLONE}/{conf}")
            for conf, name in NAMES.items()]


def tokens(text: str) -> list[str]:
    text = re.sub(r"#[^\n]*", "", text)
    return re.findall(r"[{};]|[^\s{};]+", text)


def conf_problems(text: str) -> list[str]:
    """What makes this conf invalid around server_name (in words), if anything."""
    found, depth, i = [], 0, 0
    toks = tokens(text)
    while i < len(toks):
        tok = toks[i]
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth < 0:
                return ["a } closes more blocks than were opened"]
        elif tok == "server_name":
            values = []
            i += 1
            while i < len(toks) and toks[i] not in (";", "{", "}"):
                values.append(toks[i])
                i += 1
            if i >= len(toks) or toks[i] != ";" or DIRECTIVES & set(values):
                found.append("server_name has no closing ;")
                continue
            bad = [v for v in values if not VALID_NAME.match(v)]
            if not values:
                found.append("server_name has no name")
            elif bad:
                found.append(f"not a host name: {', '.join(bad)}")
        i += 1
    if depth != 0:
        found.append("a { is never closed")
    if "server_name" not in toks:
        found.append("no server_name line")
    return found


def check(ctx: Context) -> list[str]:
    top = app_source.app_dir(ctx)
    m = ctx.config.manager.name
    if not top:
        return app_source.check(ctx)
    problems = []
    for conf in CONFS:
        read = ctx.manager_sh(f"cat {top}/{conf}", check=False, teach=False)
        if not read.ok:
            problems.append(Problem("conf_missing", node=m, path=f"{top}/{conf}"))
            continue
        for reason in conf_problems(read.stdout):
            problems.append(Problem("conf_invalid", node=m, path=f"{top}/{conf}", reason=reason))
    return problems
