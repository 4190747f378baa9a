"""Tutorial step 3 (optional): `server_name` in the two nginx confs.

Changing the name is optional; what the check asks is that both files are
still valid nginx, since the images build from them in step 7."""
from __future__ import annotations

import re

from . import Context, type_solution, Problem, app_source

NAME = "server_name: the nginx confs (optional)"
CONFS = ("nginx/nginx-frontend.conf", "nginx/nginx-backend.conf")
NAMES = {"nginx/nginx-frontend.conf": "music.lab", "nginx/nginx-backend.conf": "api.music.lab"}
# A name nginx takes: a host name (with a leading or trailing *), _, or a regex.
VALID_NAME = re.compile(r"^(~.+|\*?\.?[A-Za-z0-9][A-Za-z0-9.-]*\*?|\*\.[A-Za-z0-9.-]+|_|\"\")$")
def teach(ctx: Context) -> list[tuple[str, str]]:
    m = ctx.config.manager.name
    return [(m, f"sed -i 's/server_name [^;]*;/server_name {name};/' {app_source.CLONE}/{conf}")
            for conf, name in NAMES.items()]


def tokens(text: str) -> list[tuple[str, int]]:
    """nginx's tokens with their line numbers, comments left out."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        line = re.sub(r"#.*", "", line)
        found += [(tok, number) for tok in re.findall(r"[{};]|[^\s{};]+", line)]
    return found


def conf_problems(text: str) -> list[str]:
    """What makes this conf invalid around server_name (in words), if anything."""
    found, depth, i = [], 0, 0
    toks = tokens(text)
    while i < len(toks):
        tok, line = toks[i]
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth < 0:
                return [f"line {line}: a }} closes more blocks than were opened"]
        elif tok == "server_name":
            values = []
            i += 1
            while i < len(toks) and toks[i][0] not in (";", "{", "}"):
                values.append(toks[i])
                i += 1
            # Names spread over several lines are legal but nobody writes them:
            # a value on the next line is the next directive, swallowed.
            if i >= len(toks) or toks[i][0] != ";" or any(n != line for _, n in values):
                found.append(f"line {line}: server_name has no closing ;")
                continue
            bad = [v for v, _ in values if not VALID_NAME.match(v)]
            if not values:
                found.append(f"line {line}: server_name has no name")
            elif bad:
                found.append(f"line {line}: not a host name: {', '.join(bad)}")
        i += 1
    if depth > 0:
        found.append("a { is never closed")
    if "server_name" not in {t for t, _ in toks}:
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


def apply(ctx: Context, step, missing) -> None:
    """The trainee's step: typing its solution is all there is to do."""
    type_solution(ctx, teach(ctx))
