"""nginx-backend's conf run by Debian's nginx in front of the real API (on the
test PostgreSQL): the login rate limit, the body limit, and their answers as
JSON that a browser on another origin can read."""
import http.client
import json
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from musicapi import create_app

from .conftest import app_settings
from .helpers import unique

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "frontend"))
from nginx_conf import running  # noqa: E402

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


@pytest.fixture(scope="module")
def api_port(cluster):
    server = make_server("127.0.0.1", 0, create_app(app_settings(cluster)), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()


@pytest.fixture
def proxy(api_port, tmp_path):
    with running("nginx-backend.conf", tmp_path, ("backend", 5000), api_port) as port:
        yield port


def call(port, method, path, body=None, headers=None, chunked=False):
    """(status, headers as a list of (lower-case name, value), body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = dict(headers or {})
        if body is not None and not isinstance(body, bytes):
            body, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        if chunked:
            connection.putrequest(method, path)
            for name, value in {**headers, "Transfer-Encoding": "chunked"}.items():
                connection.putheader(name, value)
            connection.endheaders()
            for start in range(0, len(body), 16384):
                piece = body[start:start + 16384]
                connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            connection.send(b"0\r\n\r\n")
        else:
            connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, [(k.lower(), v) for k, v in response.getheaders()], response.read()
    finally:
        connection.close()


def header_values(headers, name):
    return [value for key, value in headers if key == name]


def assert_json_refusal(status, headers, body, code, words):
    assert status == code, body
    assert header_values(headers, "content-type") == ["application/json"]
    answer = json.loads(body)
    assert answer["status"] == "fail" and words in answer["message"], answer
    assert header_values(headers, "access-control-allow-origin") == ["*"]
    for name, value in SECURITY_HEADERS.items():
        assert header_values(headers, name) == [value], name


def test_a_login_flood_gets_429_as_json_with_cors(proxy):
    answers = [call(proxy, "POST", "/authentications", {"username": unique("nobody"), "password": "wrong-pass"})
               for _ in range(25)]
    statuses = [status for status, _, _ in answers]
    # The burst (10) and what the rate refilled meanwhile reach the API; the rest is refused.
    assert statuses.count(401) >= 10 and statuses.count(429) >= 5, statuses
    assert set(statuses) == {401, 429}, statuses
    status, headers, body = next(answer for answer in answers if answer[0] == 429)
    assert_json_refusal(status, headers, body, 429, "too many requests")
    assert header_values(headers, "retry-after") == ["1"]
    # Other paths are not limited, and preflights are never counted.
    assert call(proxy, "GET", "/health")[0] == 200
    assert call(proxy, "OPTIONS", "/authentications", headers={"Origin": "http://web.example"})[0] == 204


def test_registering_is_limited_too(proxy):
    statuses = [call(proxy, "POST", "/users", {"username": "x"})[0] for _ in range(25)]
    assert statuses.count(429) >= 5 and 400 in statuses, statuses


def test_a_body_over_64_kib_is_413_as_json_with_cors(proxy):
    big = {"name": "x" * (64 * 1024), "year": 2000}
    assert_json_refusal(*call(proxy, "POST", "/albums", big), 413, "too large")


def test_a_chunked_body_over_64_kib_is_413_too(proxy):
    body = json.dumps({"name": "x" * (80 * 1024), "year": 2000}).encode()
    assert_json_refusal(*call(proxy, "POST", "/albums", body, {"Content-Type": "application/json"}, chunked=True),
                        413, "too large")


def test_a_body_under_64_kib_reaches_the_api(proxy):
    status, headers, body = call(proxy, "POST", "/albums", {"name": "x" * (60 * 1024), "year": 2000})
    # The API's own answer: no token.
    assert status == 401 and "Bearer" in json.loads(body)["message"]


def test_proxied_answers_carry_cors_once_and_the_security_headers(proxy):
    status, headers, _ = call(proxy, "GET", "/albums", headers={"Origin": "http://web.example"})
    assert status == 200
    assert header_values(headers, "access-control-allow-origin") == ["*"]
    for name, value in SECURITY_HEADERS.items():
        assert header_values(headers, name) == [value], name
