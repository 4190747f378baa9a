"""app_name from lab.yaml to the page and back: the .env the lab writes, the
frontend's real pages, and the lab's own checks of those pages. A name with
'&', '<' or quotes is escaped in the page; the checks must still find it."""
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from lab import config as cfg
from lab.checks import e2e, smoke
from lab.checks.http import Response
from lab.steps import app_images
from musicweb import create_app
from musicweb.settings import parse_env, settings_from_values

ROOT = Path(__file__).resolve().parents[3]
NAMES = ["Rock & Roll", "Say \"Hi\" <now>", "Rock 'n' Roll", "Music"]


def lab_config(app_name):
    data = yaml.safe_load((ROOT / "lab.yaml").read_text())
    return cfg.parse(dict(data, app_name=app_name), ROOT / "lab.yaml")


def served(config):
    """The frontend as the image runs it: settings read from the .env the lab bakes in."""
    env = app_images.frontend_env(SimpleNamespace(config=config)).decode()
    settings = settings_from_values(parse_env(env, ".env"), ".env")
    assert settings.app_name == config.app_name
    return create_app(settings).test_client()


def response(client, url):
    r = client.get("/" + url.split("/", 3)[3])
    return Response(r.status_code, dict(r.headers), r.get_data())


@pytest.mark.parametrize("name", NAMES)
def test_the_smoke_check_finds_the_escaped_name_on_the_real_login_page(name):
    config = lab_config(name)
    page = response(served(config), f"{config.web_url}login")
    assert page.status == 200
    assert smoke.shows_login(page.text, config.app_name)
    assert not smoke.shows_login(page.text, "Another Name")


@pytest.mark.parametrize("name", NAMES)
def test_lab_check_reads_the_real_login_page_with_any_name(name, monkeypatch):
    config = lab_config(name)
    client = served(config)
    asked = []
    monkeypatch.setattr(e2e, "request", lambda method, url, *a, **kw: asked.append(url) or response(client, url))
    detail = e2e.check_login_page(SimpleNamespace(config=config))
    assert asked == [f"{config.web_url}login", config.web_url]
    assert f"title {name + ' | Login'!r}" in detail
    other = dataclasses.replace(config, app_name="Another Name")
    with pytest.raises(e2e.CheckFailed, match="title is"):
        e2e.check_login_page(SimpleNamespace(config=other))
