"""The .env the image bakes in: read once at start, and a bad one stops the
server with a message naming the file and the key."""
import subprocess
import sys

import pytest

from musicweb import create_app
from musicweb.settings import Settings, SettingsError, load_settings

GOOD_ENV = '# comment\n\nAPP_NAME="Music"\nAPI_ENDPOINT=http://10.0.0.5:8080/\n'


def write_env(tmp_path, text):
    path = tmp_path / ".env"
    path.write_text(text)
    return path


def test_reads_keys_and_drops_quotes_and_comments(tmp_path):
    settings = load_settings(write_env(tmp_path, GOOD_ENV))
    assert settings == Settings(app_name="Music", api_endpoint="http://10.0.0.5:8080/")


def test_adds_the_trailing_slash_the_scripts_rely_on(tmp_path):
    path = write_env(tmp_path, "APP_NAME='Music'\nAPI_ENDPOINT='https://api.example.org'\n")
    assert load_settings(path).api_endpoint == "https://api.example.org/"


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "absent.env"
    with pytest.raises(SettingsError, match=f"{path} not found"):
        load_settings(path)


@pytest.mark.parametrize("key", ["APP_NAME", "API_ENDPOINT"])
def test_missing_key_names_the_file_and_the_key(tmp_path, key):
    text = "".join(line + "\n" for line in GOOD_ENV.splitlines() if not line.startswith(key))
    path = write_env(tmp_path, text)
    with pytest.raises(SettingsError, match=f"{path}: {key} is missing or empty"):
        load_settings(path)


def test_empty_value_counts_as_missing(tmp_path):
    path = write_env(tmp_path, 'APP_NAME=""\nAPI_ENDPOINT=http://h/\n')
    with pytest.raises(SettingsError, match="APP_NAME is missing or empty"):
        load_settings(path)


def test_endpoint_without_scheme_is_refused(tmp_path):
    path = write_env(tmp_path, "APP_NAME=Music\nAPI_ENDPOINT=10.0.0.5:8080\n")
    with pytest.raises(SettingsError, match="API_ENDPOINT must start with http"):
        load_settings(path)


def test_line_without_equals_names_its_line_number(tmp_path):
    path = write_env(tmp_path, "APP_NAME=Music\nAPI_ENDPOINT\n")
    with pytest.raises(SettingsError, match="line 2: expected KEY=VALUE"):
        load_settings(path)


def test_create_app_reads_the_file_named_by_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTEND_ENV_FILE", str(write_env(tmp_path, GOOD_ENV)))
    page = create_app().test_client().get("/login").get_data(as_text=True)
    assert 'content="http://10.0.0.5:8080/"' in page


def test_env_example_is_a_valid_env(frontend_dir):
    settings = load_settings(frontend_dir / ".env.example")
    assert settings.app_name == "Music"


def test_server_entry_point_exits_with_one_clear_line(tmp_path, frontend_dir):
    """What gunicorn --preload shows when the image's .env lacks a key."""
    path = write_env(tmp_path, "APP_NAME=Music\n")
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=frontend_dir,
        env={"FRONTEND_ENV_FILE": str(path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"frontend: cannot start: {path}: API_ENDPOINT is missing or empty "
        "(see .env.example for the keys)"
    )
