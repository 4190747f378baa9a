"""musicapp's JSON API: create_app() builds the Flask application."""
from flask import Flask

from .auth import dummy_hash
from .cors import register_cors
from .db import EXTENSION_KEY, Database, get_db
from .errors import register_error_handlers
from .ids import IdConverter
from .routes import register_routes
from .settings import load_settings

# Every body the API accepts is a few short strings.
MAX_BODY_BYTES = 64 * 1024


def create_app(config=None):
    """Build the app; `config` overrides settings from the environment (see settings.py)."""
    settings = load_settings(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config.update(settings)
    app.url_map.converters["id"] = IdConverter

    database = Database(settings)
    app.extensions[EXTENSION_KEY] = database

    register_cors(app)
    app.before_request(_ensure_schema)
    register_error_handlers(app)
    register_routes(app)

    dummy_hash(settings["BCRYPT_ROUNDS"])
    database.wait_for_schema(settings["DB_WAIT_SECONDS"])
    return app


def _ensure_schema():
    # A no-op once the schema exists; until then (database late at start)
    # each request retries it, or gets 503 while the database stays away.
    get_db().ensure_schema()
