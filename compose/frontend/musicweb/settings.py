"""The frontend's settings, read once at start from a .env file.

The course bakes these into the image at build time, so a changed API address
means a rebuilt image; we keep that shape because the tutorial's step 4 edits
exactly this file before building.
"""
import os
from dataclasses import dataclass

DEFAULT_ENV_FILE = "/app/.env"
ENV_FILE_VARIABLE = "FRONTEND_ENV_FILE"
REQUIRED_KEYS = ("APP_NAME", "API_ENDPOINT")


class SettingsError(Exception):
    """A .env file that cannot give the frontend its settings."""


@dataclass(frozen=True)
class Settings:
    app_name: str
    # The API as the *browser* reaches it (nginx-backend's public address),
    # never a swarm-internal name: the pages' scripts call it directly.
    api_endpoint: str


def env_file_path():
    return os.environ.get(ENV_FILE_VARIABLE, DEFAULT_ENV_FILE)


def parse_env(text, path):
    """KEY=VALUE lines; blank lines and # comments are skipped, and one pair
    of surrounding quotes is dropped, as in the course's .env."""
    values = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SettingsError(f"{path}, line {number}: expected KEY=VALUE, got {raw!r}")
        values[key] = unquote(value.strip())
    return values


def unquote(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def normalize_endpoint(value, path):
    if not value.startswith(("http://", "https://")):
        raise SettingsError(
            f"{path}: API_ENDPOINT must start with http:// or https://, got {value!r}"
        )
    # The scripts append paths such as "authentications" to it.
    return value if value.endswith("/") else value + "/"


def settings_from_values(values, path):
    for key in REQUIRED_KEYS:
        if not values.get(key, "").strip():
            raise SettingsError(
                f"{path}: {key} is missing or empty (see .env.example for the keys)"
            )
    return Settings(
        app_name=values["APP_NAME"].strip(),
        api_endpoint=normalize_endpoint(values["API_ENDPOINT"].strip(), path),
    )


def load_settings(path=None):
    path = path or env_file_path()
    try:
        with open(path, encoding="utf-8") as env_file:
            text = env_file.read()
    except FileNotFoundError:
        raise SettingsError(
            f"{path} not found: the frontend needs APP_NAME and API_ENDPOINT "
            f"there (copy .env.example to .env before building, or set "
            f"{ENV_FILE_VARIABLE})"
        ) from None
    return settings_from_values(parse_env(text, path), path)
