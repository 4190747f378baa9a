"""Ids of the form `<kind>-<16 random characters>`, and the URL converter that accepts them."""
import secrets
import string

from werkzeug.routing import BaseConverter

ALPHABET = string.ascii_letters + string.digits + "_-"
RANDOM_LENGTH = 16


def new_id(kind):
    return kind + "-" + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))


class IdConverter(BaseConverter):
    """Matches only what could be an id, so odd path segments (NUL bytes,
    kilobytes of text) are a plain 404 before any SQL runs."""

    regex = r"[A-Za-z0-9_-]{1,50}"
