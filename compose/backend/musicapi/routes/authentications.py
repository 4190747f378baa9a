"""Login (POST), access-token refresh (PUT) and logout (DELETE) on /authentications."""
from flask import Blueprint

from .. import validation as v
from ..auth import issue_access_token, issue_refresh_token, password_matches, user_id_from_refresh_token
from ..db import get_db
from ..errors import InvalidInput, Unauthenticated
from ..responses import success

bp = Blueprint("authentications", __name__)


@bp.post("/authentications")
def login():
    body = v.json_body()
    username = v.string(body, "username", v.USERNAME_MAX)
    password = v.string(body, "password", max_bytes=v.PASSWORD_MAX_BYTES)
    user_id = _user_id_for_credentials(username, password)
    if user_id is None:
        # One message for both cases: do not tell which usernames exist.
        raise Unauthenticated("wrong username or password")
    access_token = issue_access_token(user_id)
    refresh_token = issue_refresh_token(user_id)
    with get_db().cursor() as cursor:
        cursor.execute("INSERT INTO authentications (token) VALUES (%s)", (refresh_token,))
    return success({"accessToken": access_token, "refreshToken": refresh_token}, "logged in", 201)


@bp.put("/authentications")
def refresh():
    refresh_token = _refresh_token_from_body()
    user_id = user_id_from_refresh_token(refresh_token)
    if user_id is None or not _is_stored(refresh_token):
        raise InvalidInput("invalid refresh token")
    return success({"accessToken": issue_access_token(user_id)}, "access token refreshed")


@bp.delete("/authentications")
def logout():
    refresh_token = _refresh_token_from_body()
    with get_db().cursor() as cursor:
        cursor.execute("DELETE FROM authentications WHERE token = %s", (refresh_token,))
        removed = cursor.rowcount
    if not removed:
        raise InvalidInput("invalid refresh token")
    return success(message="logged out")


def _user_id_for_credentials(username, password):
    with get_db().cursor() as cursor:
        cursor.execute("SELECT id, password FROM users WHERE username = %s", (username,))
        row = cursor.fetchone()
    if row is None or not password_matches(password, row[1]):
        return None
    return row[0]


def _refresh_token_from_body():
    # Tokens are a few hundred characters; the bound only stops abuse.
    return v.string(v.json_body(), "refreshToken", max_length=4096)


def _is_stored(refresh_token):
    with get_db().cursor() as cursor:
        cursor.execute("SELECT 1 FROM authentications WHERE token = %s", (refresh_token,))
        return cursor.fetchone() is not None
