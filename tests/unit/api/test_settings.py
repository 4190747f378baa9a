"""Settings from the environment and from secret files (no database needed)."""
import pytest

from musicapi.settings import SettingsError, load_settings


@pytest.fixture
def secrets_dir(tmp_path):
    for name, value in {"db_password": "pw-from-file\n", "access": "access-key\n", "refresh": "refresh-key"}.items():
        (tmp_path / name).write_text(value)
    return tmp_path


def environ_with_files(secrets_dir, **extra):
    return {
        "PGPASSWORD_FILE": str(secrets_dir / "db_password"),
        "ACCESS_TOKEN_KEY_FILE": str(secrets_dir / "access"),
        "REFRESH_TOKEN_KEY_FILE": str(secrets_dir / "refresh"),
        **extra,
    }


def test_secrets_come_from_files_without_trailing_newline(secrets_dir):
    settings = load_settings(environ=environ_with_files(secrets_dir))
    assert settings["PGPASSWORD"] == "pw-from-file"
    assert settings["ACCESS_TOKEN_KEY"] == "access-key"
    assert settings["REFRESH_TOKEN_KEY"] == "refresh-key"


def test_defaults_match_the_stack(secrets_dir):
    settings = load_settings(environ=environ_with_files(secrets_dir))
    assert (settings["PGHOST"], settings["PGPORT"], settings["PGDATABASE"], settings["PGUSER"]) == (
        "db", 5432, "musicapp", "musicapp")
    assert settings["ACCESS_TOKEN_AGE"] == 1800


def test_plain_variables_work_without_files(tmp_path, monkeypatch):
    # Point the default secret paths somewhere empty, as outside a swarm.
    monkeypatch.setattr("musicapi.settings.SECRETS", {
        "PGPASSWORD": str(tmp_path / "none1"),
        "ACCESS_TOKEN_KEY": str(tmp_path / "none2"),
        "REFRESH_TOKEN_KEY": str(tmp_path / "none3"),
    })
    settings = load_settings(environ={
        "PGPASSWORD": "pw", "ACCESS_TOKEN_KEY": "a", "REFRESH_TOKEN_KEY": "r",
        "PGHOST": "elsewhere", "PGPORT": "6543", "ACCESS_TOKEN_AGE": "60",
    })
    assert (settings["PGPASSWORD"], settings["PGHOST"], settings["PGPORT"], settings["ACCESS_TOKEN_AGE"]) == (
        "pw", "elsewhere", 6543, 60)


def test_a_named_secret_file_that_is_missing_is_an_error(secrets_dir):
    environ = environ_with_files(secrets_dir, ACCESS_TOKEN_KEY_FILE=str(secrets_dir / "missing"))
    with pytest.raises(SettingsError, match="ACCESS_TOKEN_KEY"):
        load_settings(environ=environ)


def test_missing_jwt_key_is_an_error(secrets_dir, monkeypatch):
    monkeypatch.setattr("musicapi.settings.SECRETS", {
        "PGPASSWORD": str(secrets_dir / "db_password"),
        "ACCESS_TOKEN_KEY": str(secrets_dir / "access"),
        "REFRESH_TOKEN_KEY": str(secrets_dir / "nowhere"),
    })
    with pytest.raises(SettingsError, match="REFRESH_TOKEN_KEY"):
        load_settings(environ={})


def test_non_integer_age_is_an_error(secrets_dir):
    with pytest.raises(SettingsError, match="ACCESS_TOKEN_AGE"):
        load_settings(environ=environ_with_files(secrets_dir, ACCESS_TOKEN_AGE="half an hour"))


def test_overrides_win(secrets_dir):
    settings = load_settings({"PGHOST": "override", "ACCESS_TOKEN_KEY": "k"}, environ=environ_with_files(secrets_dir))
    assert (settings["PGHOST"], settings["ACCESS_TOKEN_KEY"]) == ("override", "k")
