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


def wait_for(url: str, seconds: float, ok=lambda r: r.status == 200, in_a_row: int = 1) -> Response | None:
    """GET until `ok` holds for `in_a_row` answers one after another (behind
    nginx, each may come from another replica) or time runs out: the answer
    that completed the streak; on time out the last answer `ok` refused, or
    None when the last try got no answer."""
    deadline = time.monotonic() + seconds
    failed, streak = None, 0
    while time.monotonic() < deadline:
        try:
            answer = request("GET", url, timeout=3)
            if ok(answer):
                streak += 1
                if streak >= in_a_row:
                    return answer
            else:
                failed, streak = answer, 0
        except (OSError, urllib.error.URLError):
            failed, streak = None, 0
        time.sleep(0.2 if streak else 0.5)
    return failed
