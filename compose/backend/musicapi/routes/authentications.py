"""Login (POST), refresh (PUT) and logout (DELETE) on /authentications.

Refresh tokens are stored as their SHA-256 digest with an expiry. A refresh
replaces the token it was given by a new one (rotation): a stolen token works
at most until its owner next refreshes, and every token dies after
REFRESH_TOKEN_AGE. Expired rows are purged whenever a token is issued.
"""
from flask import Blueprint

from .. import validation as v
from ..auth import (issue_access_token, issue_refresh_token, password_matches, token_digest,
                    user_id_from_refresh_token)
from ..db import get_db
from ..errors import InvalidInput, Unauthenticated
from ..responses import success

bp = Blueprint("authentications", __name__)

# Tokens are a few hundred characters; the bound only stops abuse.
REFRESH_TOKEN_MAX = 4096


@bp.post("/authentications")
def login():
    body = v.json_body()
    username = v.string(body, "username", v.USERNAME_MAX)
    password = v.string(body, "password", max_bytes=v.PASSWORD_MAX_BYTES)
    user_id = _user_id_for_credentials(username, password)
    if user_id is None:
        # One message for both cases: do not tell which usernames exist.
        raise Unauthenticated("wrong username or password")
    with get_db().cursor() as cursor:
        refresh_token = _store_new_refresh_token(cursor, user_id)
    return success({"accessToken": issue_access_token(user_id), "refreshToken": refresh_token}, "logged in", 201)


@bp.put("/authentications")
def refresh():
    refresh_token = _refresh_token_from_body()
    user_id = user_id_from_refresh_token(refresh_token)
    if user_id is None:
        raise InvalidInput("invalid refresh token")
    with get_db().cursor() as cursor:
        # Deleting and inserting in one transaction: of two refreshes racing
        # with the same token, only one gets a row back.
        cursor.execute(
            "DELETE FROM authentications WHERE token_hash = %s AND expires_at > now()",
            (token_digest(refresh_token),))
        if not cursor.rowcount:
            raise InvalidInput("invalid refresh token")
        new_refresh_token = _store_new_refresh_token(cursor, user_id)
    return success({"accessToken": issue_access_token(user_id), "refreshToken": new_refresh_token},
                   "access token refreshed")


@bp.delete("/authentications")
def logout():
    refresh_token = _refresh_token_from_body()
    with get_db().cursor() as cursor:
        cursor.execute("DELETE FROM authentications WHERE token_hash = %s", (token_digest(refresh_token),))
        removed = cursor.rowcount
    if not removed:
        raise InvalidInput("invalid refresh token")
    return success(message="logged out")


def _user_id_for_credentials(username, password):
    with get_db().cursor() as cursor:
        cursor.execute("SELECT id, password FROM users WHERE username = %s", (username,))
        row = cursor.fetchone()
    # An unknown username is checked against a dummy hash, as slowly as a known one.
    if not password_matches(password, row[1] if row else None):
        return None
    return row[0]


def _store_new_refresh_token(cursor, user_id):
    token, expires = issue_refresh_token(user_id)
    cursor.execute("DELETE FROM authentications WHERE expires_at <= now()")
    cursor.execute(
        "INSERT INTO authentications (token_hash, expires_at) VALUES (%s, to_timestamp(%s))",
        (token_digest(token), expires))
    return token


def _refresh_token_from_body():
    return v.string(v.json_body(), "refreshToken", max_length=REFRESH_TOKEN_MAX)
