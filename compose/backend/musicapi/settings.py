"""Settings from the environment, with Docker secrets read from files.

Secrets (database password, JWT keys) are looked up first in the file named by
`<NAME>_FILE`, then in the default secret path, then in `<NAME>` itself, so the
same image runs under swarm secrets and under a plain `docker run -e`.
"""
import os

DEFAULTS = {
    "PGHOST": "db",
    "PGPORT": 5432,
    "PGDATABASE": "musicapp",
    "PGUSER": "musicapp",
    "ACCESS_TOKEN_AGE": 1800,
    # 14 days; each refresh replaces the token with a new one of full age.
    "REFRESH_TOKEN_AGE": 14 * 24 * 3600,
    # How long start-up waits for PostgreSQL before serving anyway (see db.py).
    "DB_WAIT_SECONDS": 60,
    "BCRYPT_ROUNDS": 12,
}

SECRETS = {
    "PGPASSWORD": "/run/secrets/db_password",
    "ACCESS_TOKEN_KEY": "/run/secrets/access_token_key",
    "REFRESH_TOKEN_KEY": "/run/secrets/refresh_token_key",
}

INTEGERS = ("PGPORT", "ACCESS_TOKEN_AGE", "REFRESH_TOKEN_AGE", "DB_WAIT_SECONDS", "BCRYPT_ROUNDS")

# Without these the API cannot issue or check tokens, so start-up fails early.
REQUIRED = ("ACCESS_TOKEN_KEY", "REFRESH_TOKEN_KEY")


class SettingsError(RuntimeError):
    pass


def load_settings(overrides=None, environ=None):
    """Return the settings dict; keys in `overrides` win over the environment."""
    overrides = dict(overrides or {})
    environ = os.environ if environ is None else environ
    settings = {}
    for name, default in DEFAULTS.items():
        settings[name] = overrides.get(name, environ.get(name, default))
    for name, default_path in SECRETS.items():
        settings[name] = overrides[name] if name in overrides else _read_secret(name, default_path, environ)
    for name in INTEGERS:
        settings[name] = _as_int(name, settings[name])
    for name in REQUIRED:
        if not settings[name]:
            raise SettingsError(f"{name} is not set: give {name}_FILE (default {SECRETS[name]}) or {name}")
    extra = {key: value for key, value in overrides.items() if key not in settings}
    settings.update(extra)
    return settings


def _read_secret(name, default_path, environ):
    path = environ.get(f"{name}_FILE")
    if path:
        # Named explicitly: a missing file is a deployment mistake, not a fallback.
        return _read_file(name, path)
    if os.path.isfile(default_path):
        return _read_file(name, default_path)
    return environ.get(name)


def _read_file(name, path):
    try:
        with open(path, encoding="utf-8") as handle:
            # `echo secret | docker secret create` leaves a trailing newline.
            return handle.read().strip()
    except OSError as error:
        raise SettingsError(f"cannot read {name} from {path}: {error.strerror}") from None


def _as_int(name, value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be an integer, got {value!r}") from None
