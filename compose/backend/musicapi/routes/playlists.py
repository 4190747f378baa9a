"""/playlists and /playlists/<id>/songs: a user's own playlists, behind a Bearer token."""
from flask import Blueprint, g
from psycopg2 import errors as pg_errors

from .. import validation as v
from ..auth import require_auth
from ..db import get_db
from ..errors import Forbidden, InvalidInput, NotFound
from ..ids import new_id
from ..responses import success

bp = Blueprint("playlists", __name__)


@bp.post("/playlists")
@require_auth
def create_playlist():
    name = v.string(v.json_body(), "name")
    playlist_id = new_id("playlist")
    with get_db().cursor() as cursor:
        cursor.execute(
            "INSERT INTO playlists (id, name, owner) VALUES (%s, %s, %s)", (playlist_id, name, g.user_id))
    return success({"playlistId": playlist_id}, "playlist created", 201)


@bp.get("/playlists")
@require_auth
def list_playlists():
    with get_db().cursor() as cursor:
        cursor.execute(
            "SELECT p.id, p.name, u.username FROM playlists p JOIN users u ON u.id = p.owner"
            " WHERE p.owner = %s ORDER BY p.name, p.id",
            (g.user_id,),
        )
        rows = cursor.fetchall()
    return success({"playlists": [{"id": row[0], "name": row[1], "username": row[2]} for row in rows]})


@bp.delete("/playlists/<id:playlist_id>")
@require_auth
def delete_playlist(playlist_id):
    with get_db().cursor() as cursor:
        _owned_playlist(cursor, playlist_id)
        cursor.execute("DELETE FROM playlists WHERE id = %s", (playlist_id,))
    return success(message="playlist deleted")


@bp.post("/playlists/<id:playlist_id>/songs")
@require_auth
def add_song(playlist_id):
    song_id = _song_id_from_body()
    try:
        with get_db().cursor() as cursor:
            _owned_playlist(cursor, playlist_id)
            cursor.execute(
                "INSERT INTO playlist_songs (playlist_id, song_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (playlist_id, song_id),
            )
            added = cursor.rowcount
    except pg_errors.ForeignKeyViolation:
        # The foreign key, not a prior SELECT, decides whether the song exists.
        raise NotFound("song not found") from None
    if not added:
        raise InvalidInput("song is already in the playlist")
    return success(message="song added to the playlist", status_code=201)


@bp.get("/playlists/<id:playlist_id>/songs")
@require_auth
def list_songs(playlist_id):
    with get_db().cursor() as cursor:
        playlist = _owned_playlist(cursor, playlist_id)
        cursor.execute(
            "SELECT s.id, s.title, s.performer FROM playlist_songs ps JOIN songs s ON s.id = ps.song_id"
            " WHERE ps.playlist_id = %s ORDER BY s.title, s.id",
            (playlist_id,),
        )
        songs = [{"id": row[0], "title": row[1], "performer": row[2]} for row in cursor.fetchall()]
    return success({"playlist": {**playlist, "songs": songs}})


@bp.delete("/playlists/<id:playlist_id>/songs")
@require_auth
def remove_song(playlist_id):
    song_id = _song_id_from_body()
    with get_db().cursor() as cursor:
        _owned_playlist(cursor, playlist_id)
        cursor.execute(
            "DELETE FROM playlist_songs WHERE playlist_id = %s AND song_id = %s", (playlist_id, song_id))
        removed = cursor.rowcount
    if not removed:
        raise NotFound("song is not in the playlist")
    return success(message="song removed from the playlist")


def _song_id_from_body():
    return v.string(v.json_body(), "songId", v.ID_MAX)


def _owned_playlist(cursor, playlist_id):
    """The playlist as a dict; 404 if unknown, 403 if someone else's."""
    cursor.execute(
        "SELECT p.id, p.name, p.owner, u.username FROM playlists p JOIN users u ON u.id = p.owner"
        " WHERE p.id = %s",
        (playlist_id,),
    )
    row = cursor.fetchone()
    if row is None:
        raise NotFound("playlist not found")
    if row[2] != g.user_id:
        raise Forbidden("this playlist belongs to another user")
    return {"id": row[0], "name": row[1], "username": row[3]}
