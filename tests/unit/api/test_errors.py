"""Errors as JSON (never a stack trace), and CORS on every answer."""
import io

import pytest

from musicapi import create_app

from .conftest import app_settings
from .helpers import assert_fail, create_album


@pytest.mark.parametrize("data", ['{"name": "x", "year": ', "not json at all", "", "\xff\xfe"])
def test_malformed_json_is_400(editor, data):
    response = editor.post("/albums", data=data, content_type="application/json")
    assert_fail(response, 400, "JSON object")


@pytest.mark.parametrize("data", ["[1, 2]", '"text"', "null", "42"])
def test_json_that_is_not_an_object_is_400(editor, data):
    assert_fail(editor.post("/albums", data=data, content_type="application/json"), 400, "JSON object")


def test_json_without_content_type_is_accepted(editor):
    response = editor.post("/albums", data='{"name": "Plain", "year": 2000}', content_type="text/plain")
    assert response.status_code == 201


def test_huge_body_is_413(editor):
    response = editor.post("/albums", data='{"name": "' + "x" * 70_000 + '"}', content_type="application/json")
    assert_fail(response, 413, "too large")


def test_unknown_route_is_404_json(client):
    assert_fail(client.get("/no/such/route"), 404, "not found")


def test_malformed_id_in_path_is_404(client):
    assert_fail(client.get("/albums/album%00x"), 404)
    assert_fail(client.get("/songs/" + "s" * 300), 404)


def test_wrong_method_is_405_json_with_allow(client):
    response = client.patch("/albums")
    assert_fail(response, 405, "method not allowed")
    assert {"GET", "POST"} <= {method.strip() for method in response.headers["Allow"].split(",")}


def test_unexpected_error_is_500_with_a_generic_message(cluster, caplog):
    app = create_app(app_settings(cluster))

    @app.get("/explode")
    def explode():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/explode")
    assert response.status_code == 500
    assert response.get_json() == {"status": "error", "message": "internal server error"}
    assert b"secret internals" not in response.data and b"Traceback" not in response.data
    assert "secret internals" in caplog.text  # but the log has it
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_headers_on_a_normal_response(client):
    response = client.get("/albums", headers={"Origin": "http://frontend.example"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_headers_on_an_error_response(client):
    response = client.get("/playlists", headers={"Origin": "http://frontend.example"})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/playlists", "/albums/album-x", "/playlists/playlist-x/songs", "/anything"])
def test_preflight_is_answered_on_any_path(client, path):
    response = client.options(path, headers={
        "Origin": "http://frontend.example",
        "Access-Control-Request-Method": "DELETE",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed_headers = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    allowed_methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "DELETE", "OPTIONS"} <= allowed_methods


def test_responses_are_json(client, editor):
    create_album(editor)
    for response in (client.get("/albums"), client.get("/nowhere")):
        assert response.mimetype == "application/json"


def test_deeply_nested_json_is_400(editor):
    # Small enough for the size limit, deep enough to exhaust Python's recursion.
    depth = 30_000
    response = editor.post("/albums", data="[" * depth + "]" * depth, content_type="application/json")
    assert_fail(response, 400, "JSON object")
    nested_object = '{"name": ' * 5000 + "1" + "}" * 5000
    assert_fail(editor.post("/albums", data=nested_object, content_type="application/json"), 400, "JSON object")


def test_lone_surrogate_in_a_body_string_is_400(editor):
    response = editor.post("/albums", data='{"name": "half \\ud83d pair", "year": 2000}',
                           content_type="application/json")
    assert_fail(response, 400, '"name"', "surrogate")


def test_chunked_body_past_the_limit_is_413(editor):
    body = ('{"name": "' + "x" * 70_000 + '", "year": 2000}').encode()
    # No Content-Length, as with Transfer-Encoding: chunked; the server says
    # the stream ends by itself (gunicorn sets wsgi.input_terminated).
    response = editor.post("/albums", input_stream=iter_stream(body), content_type="application/json",
                           headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert_fail(response, 413, "too large")


def test_chunked_body_within_the_limit_is_read(editor):
    body = b'{"name": "Chunked", "year": 2000}'
    response = editor.post("/albums", input_stream=iter_stream(body), content_type="application/json",
                           headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 201, response.get_json()


def iter_stream(body):
    return io.BytesIO(body)
