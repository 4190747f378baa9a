"""Small HTTP helpers for the checks: always 127.0.0.1, always bounded."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def request(method: str, url: str, body: dict | None = None, headers: dict | None = None,
            timeout: float = 5) -> Response:
    assert url.startswith("http://127.0.0.1:"), f"the lab is reached on 127.0.0.1 only, not {url}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, dict(e.headers), e.read())


def wait_for(url: str, seconds: float, ok=lambda r: r.status == 200) -> Response | None:
    """GET until `ok` holds or time runs out; the last answer, or None."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = request("GET", url, timeout=3)
            if ok(last):
                return last
        except (OSError, urllib.error.URLError):
            last = None
        time.sleep(0.5)
    return last
