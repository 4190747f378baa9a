"""/playlists and /playlists/<id>/songs, with Bearer access tokens."""
import pytest

from .helpers import ACCESS_KEY, assert_fail, bearer, create_playlist, create_song, make_access_token


def test_create_playlist_returns_201_and_a_playlist_id(client, user):
    response = client.post("/playlists", json={"name": "Road trip"}, headers=user.headers)
    assert response.status_code == 201
    assert response.get_json()["data"]["playlistId"].startswith("playlist-")


def test_list_shows_only_the_callers_playlists(client, user, other_user):
    mine = create_playlist(client, user, "Mine")
    create_playlist(client, other_user, "Theirs")
    response = client.get("/playlists", headers=user.headers)
    assert response.status_code == 200
    assert response.get_json()["data"]["playlists"] == [{"id": mine, "name": "Mine", "username": user.username}]


def test_add_list_and_remove_songs(client, editor, user):
    playlist_id = create_playlist(client, user, "Favourites")
    song_id = create_song(editor, title="Hit", performer="Star")

    added = client.post(f"/playlists/{playlist_id}/songs", json={"songId": song_id}, headers=user.headers)
    assert added.status_code == 201
    assert added.get_json()["status"] == "success"

    listed = client.get(f"/playlists/{playlist_id}/songs", headers=user.headers)
    assert listed.status_code == 200
    assert listed.get_json()["data"]["playlist"] == {
        "id": playlist_id, "name": "Favourites", "username": user.username,
        "songs": [{"id": song_id, "title": "Hit", "performer": "Star"}],
    }

    removed = client.delete(f"/playlists/{playlist_id}/songs", json={"songId": song_id}, headers=user.headers)
    assert removed.status_code == 200
    songs = client.get(f"/playlists/{playlist_id}/songs", headers=user.headers).get_json()["data"]["playlist"]["songs"]
    assert songs == []


def test_adding_a_song_twice_is_400(client, editor, user):
    playlist_id = create_playlist(client, user)
    song_id = create_song(editor)
    client.post(f"/playlists/{playlist_id}/songs", json={"songId": song_id}, headers=user.headers)
    response = client.post(f"/playlists/{playlist_id}/songs", json={"songId": song_id}, headers=user.headers)
    assert_fail(response, 400, "already")


def test_adding_an_unknown_song_is_404(client, user):
    playlist_id = create_playlist(client, user)
    response = client.post(f"/playlists/{playlist_id}/songs", json={"songId": "song-nope"}, headers=user.headers)
    assert_fail(response, 404, "song not found")


def test_removing_a_song_not_in_the_playlist_is_404(client, editor, user):
    playlist_id = create_playlist(client, user)
    song_id = create_song(editor)
    response = client.delete(f"/playlists/{playlist_id}/songs", json={"songId": song_id}, headers=user.headers)
    assert_fail(response, 404, "not in the playlist")


def test_song_id_is_validated(client, user):
    playlist_id = create_playlist(client, user)
    response = client.post(f"/playlists/{playlist_id}/songs", json={"songId": 42}, headers=user.headers)
    assert_fail(response, 400, '"songId"', "string")
    response = client.post(f"/playlists/{playlist_id}/songs", json={}, headers=user.headers)
    assert_fail(response, 400, '"songId"', "required")


def test_delete_playlist(client, user):
    playlist_id = create_playlist(client, user)
    assert client.delete(f"/playlists/{playlist_id}", headers=user.headers).status_code == 200
    assert client.get("/playlists", headers=user.headers).get_json()["data"]["playlists"] == []
    assert_fail(client.get(f"/playlists/{playlist_id}/songs", headers=user.headers), 404, "playlist")


def test_deleting_a_song_removes_it_from_playlists(client, editor, user):
    playlist_id = create_playlist(client, user)
    song_id = create_song(editor)
    client.post(f"/playlists/{playlist_id}/songs", json={"songId": song_id}, headers=user.headers)
    editor.delete(f"/songs/{song_id}")
    playlist = client.get(f"/playlists/{playlist_id}/songs", headers=user.headers).get_json()["data"]["playlist"]
    assert playlist["songs"] == []


def test_another_users_playlist_is_403(client, editor, user, other_user):
    playlist_id = create_playlist(client, user)
    song_id = create_song(editor)
    attempts = [
        client.get(f"/playlists/{playlist_id}/songs", headers=other_user.headers),
        client.post(f"/playlists/{playlist_id}/songs", json={"songId": song_id}, headers=other_user.headers),
        client.delete(f"/playlists/{playlist_id}/songs", json={"songId": song_id}, headers=other_user.headers),
        client.delete(f"/playlists/{playlist_id}", headers=other_user.headers),
    ]
    for response in attempts:
        assert_fail(response, 403, "another user")
    assert client.get(f"/playlists/{playlist_id}/songs", headers=user.headers).status_code == 200


@pytest.mark.parametrize("method, path, kwargs", [
    ("get", "/playlists/playlist-nope/songs", {}),
    ("post", "/playlists/playlist-nope/songs", {"json": {"songId": "song-x"}}),
    ("delete", "/playlists/playlist-nope/songs", {"json": {"songId": "song-x"}}),
    ("delete", "/playlists/playlist-nope", {}),
])
def test_unknown_playlist_is_404(client, user, method, path, kwargs):
    assert_fail(getattr(client, method)(path, headers=user.headers, **kwargs), 404, "playlist not found")


PROTECTED = [
    ("get", "/playlists", {}),
    ("post", "/playlists", {"json": {"name": "x"}}),
    ("delete", "/playlists/playlist-x", {}),
    ("get", "/playlists/playlist-x/songs", {}),
    ("post", "/playlists/playlist-x/songs", {"json": {"songId": "song-x"}}),
    ("delete", "/playlists/playlist-x/songs", {"json": {"songId": "song-x"}}),
]


@pytest.mark.parametrize("method, path, kwargs", PROTECTED)
def test_no_token_is_401(client, method, path, kwargs):
    assert_fail(getattr(client, method)(path, **kwargs), 401, "Bearer")


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    bearer("not-a-jwt"),
])
def test_malformed_authorization_is_401(client, headers):
    assert_fail(client.get("/playlists", headers=headers), 401)


def test_forged_token_is_401(client, user):
    forged = make_access_token(user.id, key="not-the-server-key-" + "x" * 32)
    assert_fail(client.get("/playlists", headers=bearer(forged)), 401, "invalid")


def test_expired_token_is_401(client, user):
    expired = make_access_token(user.id, issued_ago=3600, age=1800)
    assert_fail(client.get("/playlists", headers=bearer(expired)), 401, "expired")


def test_token_of_a_user_that_does_not_exist_is_401(client):
    token = make_access_token("user-neverregistered", key=ACCESS_KEY)
    assert_fail(client.get("/playlists", headers=bearer(token)), 401, "no longer exists")


def test_refreshed_access_token_works(client, user):
    token = client.put("/authentications", json={"refreshToken": user.refresh_token}).get_json()["data"]["accessToken"]
    assert client.get("/playlists", headers=bearer(token)).status_code == 200


def test_playlist_name_is_validated(client, user):
    assert_fail(client.post("/playlists", json={"name": ""}, headers=user.headers), 400, '"name"')
    assert_fail(client.post("/playlists", json={"name": "n" * 256}, headers=user.headers), 400, '"name"', "255")
