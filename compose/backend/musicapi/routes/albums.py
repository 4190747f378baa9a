"""/albums and /albums/<id>; an album is returned with its songs.

Reading is public; creating, changing and deleting need an access token,
since a delete also takes the album's songs out of every user's playlists."""
from flask import Blueprint

from .. import validation as v
from ..auth import require_auth
from ..db import get_db
from ..errors import NotFound
from ..ids import new_id
from ..responses import success

bp = Blueprint("albums", __name__)


@bp.post("/albums")
@require_auth
def create_album():
    name, year = _album_from_body()
    album_id = new_id("album")
    with get_db().cursor() as cursor:
        cursor.execute("INSERT INTO albums (id, name, year) VALUES (%s, %s, %s)", (album_id, name, year))
    return success({"albumId": album_id}, "album created", 201)


@bp.get("/albums")
def list_albums():
    with get_db().cursor() as cursor:
        cursor.execute("SELECT id, name, year FROM albums ORDER BY name, id")
        rows = cursor.fetchall()
    return success({"albums": [_album(row) for row in rows]})


@bp.get("/albums/<id:album_id>")
def get_album(album_id):
    with get_db().cursor() as cursor:
        cursor.execute("SELECT id, name, year FROM albums WHERE id = %s", (album_id,))
        row = cursor.fetchone()
        if row is None:
            raise NotFound("album not found")
        cursor.execute(
            "SELECT id, title, performer FROM songs WHERE album_id = %s ORDER BY title, id", (album_id,))
        songs = [{"id": song[0], "title": song[1], "performer": song[2]} for song in cursor.fetchall()]
    return success({"album": {**_album(row), "songs": songs}})


@bp.put("/albums/<id:album_id>")
@require_auth
def update_album(album_id):
    name, year = _album_from_body()
    with get_db().cursor() as cursor:
        cursor.execute("UPDATE albums SET name = %s, year = %s WHERE id = %s", (name, year, album_id))
        found = cursor.rowcount
    if not found:
        raise NotFound("album not found")
    return success(message="album updated")


@bp.delete("/albums/<id:album_id>")
@require_auth
def delete_album(album_id):
    with get_db().cursor() as cursor:
        cursor.execute("DELETE FROM albums WHERE id = %s", (album_id,))
        found = cursor.rowcount
    if not found:
        raise NotFound("album not found")
    return success(message="album deleted")


def _album_from_body():
    body = v.json_body()
    return v.string(body, "name"), v.integer(body, "year", v.YEAR_MIN, v.YEAR_MAX)


def _album(row):
    return {"id": row[0], "name": row[1], "year": row[2]}
