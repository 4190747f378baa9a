"""Fixtures for the frontend's fast tests: the Flask app from compose/frontend,
built with explicit settings, and its pages read with frontend_html.Page."""
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FRONTEND_DIR = HERE.parents[2] / "compose" / "frontend"
# Both explicitly, so the tests import the same way under any --import-mode.
sys.path[:0] = [str(FRONTEND_DIR), str(HERE)]

from musicweb import create_app  # noqa: E402
from musicweb.settings import Settings  # noqa: E402
from frontend_html import Page  # noqa: E402


@pytest.fixture
def frontend_dir():
    return FRONTEND_DIR


@pytest.fixture
def api_endpoint():
    return "http://127.0.0.1:8081/"


@pytest.fixture
def settings(api_endpoint):
    return Settings(app_name="Music", api_endpoint=api_endpoint)


@pytest.fixture
def client(settings):
    return create_app(settings).test_client()


@pytest.fixture
def get_page(client):
    def get(path):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert response.mimetype == "text/html"
        return Page(response.get_data(as_text=True))

    return get
