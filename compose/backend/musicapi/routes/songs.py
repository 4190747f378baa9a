"""/songs (with ?title= and ?performer= filters) and /songs/<id>.

Reading is public; creating, changing and deleting need an access token
(a deleted song leaves every playlist that held it)."""
from contextlib import contextmanager

from flask import Blueprint
from psycopg2 import errors as pg_errors

from .. import validation as v
from ..auth import require_auth
from ..db import get_db
from ..errors import NotFound
from ..ids import new_id
from ..responses import success

bp = Blueprint("songs", __name__)


@bp.post("/songs")
@require_auth
def create_song():
    song = _song_from_body()
    song_id = new_id("song")
    with _unknown_album_is_404():
        with get_db().cursor() as cursor:
            cursor.execute(
                "INSERT INTO songs (id, title, year, genre, performer, duration, album_id)"
                " VALUES (%(id)s, %(title)s, %(year)s, %(genre)s, %(performer)s, %(duration)s, %(album_id)s)",
                {**song, "id": song_id},
            )
    return success({"songId": song_id}, "song created", 201)


@bp.get("/songs")
def list_songs():
    # strpos rather than ILIKE: the filters are plain substrings, so a user's
    # % or _ must not act as a wildcard.
    filters = {"title": v.query_string("title"), "performer": v.query_string("performer")}
    with get_db().cursor() as cursor:
        cursor.execute(
            "SELECT id, title, performer FROM songs"
            " WHERE (%(title)s::text IS NULL OR strpos(lower(title), lower(%(title)s)) > 0)"
            " AND (%(performer)s::text IS NULL OR strpos(lower(performer), lower(%(performer)s)) > 0)"
            " ORDER BY title, id",
            filters,
        )
        rows = cursor.fetchall()
    return success({"songs": [{"id": row[0], "title": row[1], "performer": row[2]} for row in rows]})


@bp.get("/songs/<id:song_id>")
def get_song(song_id):
    with get_db().cursor() as cursor:
        cursor.execute(
            "SELECT id, title, year, genre, performer, duration, album_id FROM songs WHERE id = %s", (song_id,))
        row = cursor.fetchone()
    if row is None:
        raise NotFound("song not found")
    return success({"song": _song(row)})


@bp.put("/songs/<id:song_id>")
@require_auth
def update_song(song_id):
    song = _song_from_body()
    with _unknown_album_is_404():
        with get_db().cursor() as cursor:
            cursor.execute(
                "UPDATE songs SET title = %(title)s, year = %(year)s, genre = %(genre)s,"
                " performer = %(performer)s, duration = %(duration)s, album_id = %(album_id)s"
                " WHERE id = %(id)s",
                {**song, "id": song_id},
            )
            found = cursor.rowcount
    if not found:
        raise NotFound("song not found")
    return success(message="song updated")


@bp.delete("/songs/<id:song_id>")
@require_auth
def delete_song(song_id):
    with get_db().cursor() as cursor:
        cursor.execute("DELETE FROM songs WHERE id = %s", (song_id,))
        found = cursor.rowcount
    if not found:
        raise NotFound("song not found")
    return success(message="song deleted")


def _song_from_body():
    body = v.json_body()
    return {
        "title": v.string(body, "title"),
        "year": v.integer(body, "year", v.YEAR_MIN, v.YEAR_MAX),
        "genre": v.string(body, "genre"),
        "performer": v.string(body, "performer"),
        "duration": v.integer(body, "duration", v.DURATION_MIN, v.DURATION_MAX, required=False),
        "album_id": v.string(body, "albumId", v.ID_MAX, required=False),
    }


@contextmanager
def _unknown_album_is_404():
    # The foreign key, not a prior SELECT, decides whether albumId exists.
    try:
        yield
    except pg_errors.ForeignKeyViolation:
        raise NotFound("album not found") from None


def _song(row):
    return {
        "id": row[0], "title": row[1], "year": row[2], "genre": row[3],
        "performer": row[4], "duration": row[5], "albumId": row[6],
    }
