"""Entry point for gunicorn: `gunicorn --preload wsgi:app`."""
import logging

from musicapi import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")

app = create_app()
