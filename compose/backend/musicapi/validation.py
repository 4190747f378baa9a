"""Checks of request input; each failure is a 400 naming the offending field."""
import json

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import InvalidInput

USERNAME_MAX = 50
# Checked on register only: accounts made before the rule still log in.
PASSWORD_MIN = 8
# bcrypt only looks at the first 72 bytes; newer bcrypt releases refuse more.
PASSWORD_MAX_BYTES = 72
TEXT_MAX = 255
ID_MAX = 50  # the VARCHAR(50) of the id columns
YEAR_MIN, YEAR_MAX = 1, 9999
DURATION_MIN, DURATION_MAX = 0, 86_400  # seconds; a day is plenty for a song


def json_body():
    """The request's JSON object, whatever Content-Type the client sent."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    # Werkzeug 3 enforces MAX_CONTENT_LENGTH when reading the body; Debian's
    # Werkzeug 2.2 only does for form data, so check the declared length here,
    # and read a chunked body (no declared length) only up to the limit.
    if (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()
    # Werkzeug 3 caps the stream at the limit itself and raises on the read
    # past it; Werkzeug 2.2 hands over gunicorn's raw stream, where that read
    # returns data.
    raw = request.stream.read(limit)
    if request.stream.read(1):
        raise RequestEntityTooLarge()
    try:
        body = json.loads(raw)
    # RecursionError: a few thousand nested brackets fit well within the limit.
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    return body


def string(body, name, max_length=TEXT_MAX, *, required=True, max_bytes=None, min_length=1):
    value = body.get(name)
    if value is None:
        return _missing(name, required)
    if not isinstance(value, str):
        raise InvalidInput(f'"{name}" must be a string')
    _reject_lone_surrogates(name, value)
    if not value:
        raise InvalidInput(f'"{name}" must not be empty')
    if len(value) > max_length:
        raise InvalidInput(f'"{name}" must be at most {max_length} characters')
    if len(value) < min_length:
        raise InvalidInput(f'"{name}" must be at least {min_length} characters')
    if max_bytes is not None and len(value.encode("utf-8")) > max_bytes:
        raise InvalidInput(f'"{name}" must be at most {max_bytes} bytes in UTF-8')
    _reject_nul(name, value)
    return value


def integer(body, name, minimum, maximum, *, required=True):
    value = body.get(name)
    if value is None:
        return _missing(name, required)
    # bool is a subclass of int in Python, but `true` is not a year.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f'"{name}" must be an integer')
    if not minimum <= value <= maximum:
        raise InvalidInput(f'"{name}" must be between {minimum} and {maximum}')
    return value


def query_string(name, max_length=TEXT_MAX):
    """An optional query parameter; None when absent or empty."""
    value = request.args.get(name)
    if not value:
        return None
    if len(value) > max_length:
        raise InvalidInput(f'query parameter "{name}" must be at most {max_length} characters')
    _reject_nul(name, value)
    return value


def _missing(name, required):
    if required:
        raise InvalidInput(f'"{name}" is required')
    return None


def _reject_lone_surrogates(name, value):
    # JSON's "\ud800" escape decodes to half a UTF-16 pair, which no UTF-8
    # text (nor bcrypt, nor PostgreSQL) can hold.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f'"{name}" must be valid Unicode text (no lone surrogates)') from None


def _reject_nul(name, value):
    # PostgreSQL text cannot hold NUL; psycopg2 would fail on it with a 500.
    if "\x00" in value:
        raise InvalidInput(f'"{name}" must not contain NUL characters')
