"""'Nothing lost': users and playlists counted through the API.

The API has no list of all users, so the drills keep a small ledger of the
users they registered (each with a playlist). Before a drill every user of the
ledger logs in and lists its playlists; after the drill the same users must
log in and list as many playlists. One new user is added per drill, so the
count always covers data written by earlier runs, and the ledger keeps only
the last few (each login costs a bcrypt hash).
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from .. import nodes
from ..checks.http import request

KEEP = 4


@dataclass(frozen=True)
class Count:
    users: int
    playlists: int
    missing: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.users} users, {self.playlists} playlists"


def ledger_path(config) -> Path:
    return nodes.own_dir(config) / "drill-users.json"


def read(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def write(path: Path, users: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(users[-KEEP:], indent=1) + "\n")


def api(config, method: str, path: str, body=None, token=None, timeout: float = 10):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return request(method, config.api_url + path, body, headers, timeout=timeout)


def playlists_of(config, user: dict, timeout: float = 10) -> int | None:
    """How many playlists this user lists, or None when it cannot log in."""
    r = api(config, "POST", "authentications", {"username": user["username"], "password": user["password"]},
            timeout=timeout)
    if r.status != 201:
        return None
    token = r.json()["data"]["accessToken"]
    r = api(config, "GET", "playlists", token=token, timeout=timeout)
    if r.status != 200:
        return None
    return len(r.json()["data"]["playlists"])


def count(config, users: list[dict], timeout: float = 10) -> Count:
    found, playlists, missing = 0, 0, []
    for user in users:
        n = playlists_of(config, user, timeout)
        if n is None:
            missing.append(user["username"])
        else:
            found += 1
            playlists += n
    return Count(found, playlists, tuple(missing))


def add_user(config, drill: str, timeout: float = 10) -> dict:
    """A trainee's data for this run: a user with one playlist."""
    user = {"username": f"drill-{drill}-{secrets.token_hex(3)}", "password": secrets.token_urlsafe(12),
            "fullname": f"Drill {drill}"}
    r = api(config, "POST", "users", user, timeout=timeout)
    if r.status != 201:
        raise RuntimeError(f"POST /users answered {r.status}: {r.text[:200]}")
    r = api(config, "POST", "authentications", {"username": user["username"], "password": user["password"]},
            timeout=timeout)
    token = r.json()["data"]["accessToken"]
    r = api(config, "POST", "playlists", {"name": f"{drill} drill"}, token=token, timeout=timeout)
    if r.status != 201:
        raise RuntimeError(f"POST /playlists answered {r.status}: {r.text[:200]}")
    return user


def before(config, drill: str, timeout: float = 10) -> tuple[list[dict], Count]:
    """Drop ledger users this lab no longer has (a lab made afresh), add this
    run's user, count. The users returned are the ones counted again after."""
    path = ledger_path(config)
    users = [u for u in read(path) if playlists_of(config, u, timeout) is not None]
    users.append(add_user(config, drill, timeout))
    write(path, users)
    users = users[-KEEP:]
    return users, count(config, users, timeout)
