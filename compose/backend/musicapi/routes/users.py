"""POST /users (register) and GET /users/<id>."""
from flask import Blueprint
from psycopg2 import errors as pg_errors

from .. import validation as v
from ..auth import hash_password
from ..db import get_db
from ..errors import InvalidInput, NotFound
from ..ids import new_id
from ..responses import success

bp = Blueprint("users", __name__)


@bp.post("/users")
def register():
    body = v.json_body()
    username = v.string(body, "username", v.USERNAME_MAX)
    password = v.string(body, "password", max_bytes=v.PASSWORD_MAX_BYTES, min_length=v.PASSWORD_MIN)
    fullname = v.string(body, "fullname")
    user_id = new_id("user")
    try:
        with get_db().cursor() as cursor:
            cursor.execute(
                "INSERT INTO users (id, username, password, fullname) VALUES (%s, %s, %s, %s)",
                (user_id, username, hash_password(password), fullname),
            )
    except pg_errors.UniqueViolation:
        # Relying on the constraint, not a prior SELECT, is race-free.
        raise InvalidInput(f'"username" {username!r} is already taken') from None
    return success({"userId": user_id}, "user registered", 201)


@bp.get("/users/<id:user_id>")
def get_user(user_id):
    with get_db().cursor() as cursor:
        cursor.execute("SELECT id, username, fullname FROM users WHERE id = %s", (user_id,))
        row = cursor.fetchone()
    if row is None:
        raise NotFound("user not found")
    return success({"user": {"id": row[0], "username": row[1], "fullname": row[2]}})
