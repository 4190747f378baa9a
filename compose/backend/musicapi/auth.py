"""Password hashing, JWTs, and the Bearer-token guard of protected routes."""
import contextlib
import functools
import hashlib
import secrets
import threading
import time

import bcrypt
import jwt
from flask import current_app, g, request

from .db import get_db
from .errors import ServiceBusy, Unauthenticated

ALGORITHM = "HS256"


# bcrypt at cost 12 takes a core for a quarter of a second. At most two
# hashes at a time per worker process, and a login that finds both taken for
# a second is answered 503: under a flood, threads never pile up
# waiting for bcrypt, so one is always soon free for /health and the cheap
# requests. (nginx-backend's rate limit keeps normal bursts well below this.)
_bcrypt_slots = threading.BoundedSemaphore(2)
BCRYPT_WAIT_SECONDS = 1


@contextlib.contextmanager
def _bcrypt_turn():
    if not _bcrypt_slots.acquire(timeout=BCRYPT_WAIT_SECONDS):
        raise ServiceBusy("too many logins at once, try again in a moment")
    try:
        yield
    finally:
        _bcrypt_slots.release()


def hash_password(password):
    salt = bcrypt.gensalt(rounds=current_app.config["BCRYPT_ROUNDS"])
    with _bcrypt_turn():
        return bcrypt.hashpw(password.encode("utf-8"), salt).decode("ascii")


def password_matches(password, password_hash):
    """Whether the password fits the hash. With no hash (an unknown username)
    the check runs against a dummy one, so the answer takes as long as for a
    known user and its timing does not tell which usernames exist."""
    if password_hash is None:
        dummy = dummy_hash(current_app.config["BCRYPT_ROUNDS"])
        with _bcrypt_turn():
            bcrypt.checkpw(password.encode("utf-8"), dummy.encode("ascii"))
        return False
    with _bcrypt_turn():
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))


_dummy_hashes = {}
_dummy_lock = threading.Lock()


def dummy_hash(rounds):
    """A hash of a random password at the given cost; made once per cost and
    process (create_app makes it at start, so that the first unknown username
    does not pay for making it, which would tell). The password is hex: raw
    random bytes hold a NUL one time in sixteen, which bcrypt refuses, and the
    backend then failed to start."""
    with _dummy_lock:
        if rounds not in _dummy_hashes:
            salt = bcrypt.gensalt(rounds=rounds)
            _dummy_hashes[rounds] = bcrypt.hashpw(secrets.token_hex(16).encode("ascii"), salt).decode("ascii")
        return _dummy_hashes[rounds]


def issue_access_token(user_id):
    now = int(time.time())
    payload = {"id": user_id, "iat": now, "exp": now + current_app.config["ACCESS_TOKEN_AGE"]}
    return _encode(payload, current_app.config["ACCESS_TOKEN_KEY"])


def issue_refresh_token(user_id):
    """A new refresh token and its expiry (Unix time). The database keeps only
    its digest (see token_digest) with that expiry, and is what decides whether
    it is still valid; the jti keeps two logins within one second apart."""
    now = int(time.time())
    expires = now + current_app.config["REFRESH_TOKEN_AGE"]
    payload = {"id": user_id, "iat": now, "exp": expires, "jti": secrets.token_urlsafe(12)}
    return _encode(payload, current_app.config["REFRESH_TOKEN_KEY"]), expires


def token_digest(token):
    """SHA-256 of a refresh token: what the database stores, so that a copy of
    the table does not hand out working tokens."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def user_id_from_access_token(token):
    """The token's user id, or None if the token is forged, expired or malformed."""
    return _decode(token, current_app.config["ACCESS_TOKEN_KEY"], ("id", "iat", "exp"))


def user_id_from_refresh_token(token):
    # "exp" is checked when present but not required: tokens issued before
    # refresh tokens expired have none, and their stored row carries the expiry.
    return _decode(token, current_app.config["REFRESH_TOKEN_KEY"], ("id", "iat"))


def require_auth(view):
    """Let the view run only with a valid access token of an existing user; sets g.user_id."""
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        g.user_id = _authenticated_user_id()
        return view(*args, **kwargs)
    return guarded


def _authenticated_user_id():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing authentication: send 'Authorization: Bearer <accessToken>'")
    user_id = user_id_from_access_token(token.strip())
    if user_id is None:
        raise Unauthenticated("invalid or expired access token")
    # A token can outlive its user, e.g. when the database was recreated.
    if not _user_exists(user_id):
        raise Unauthenticated("the user of this access token no longer exists")
    return user_id


def _user_exists(user_id):
    with get_db().cursor() as cursor:
        cursor.execute("SELECT 1 FROM users WHERE id = %s", (user_id,))
        return cursor.fetchone() is not None


def _encode(payload, key):
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def _decode(token, key, required_claims):
    try:
        payload = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": list(required_claims)})
    except jwt.InvalidTokenError:
        return None
    user_id = payload.get("id")
    if not isinstance(user_id, str) or "\x00" in user_id:
        return None
    return user_id
