"""gunicorn's entry point: `gunicorn --preload wsgi:app`.

With --preload the app is built once in gunicorn's master, so a bad .env ends
the server at start with one readable line instead of workers failing to boot
in a loop."""
import sys

from musicweb import create_app
from musicweb.settings import SettingsError

try:
    app = create_app()
except SettingsError as error:
    sys.exit(f"frontend: cannot start: {error}")
