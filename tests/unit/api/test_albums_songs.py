"""/albums and /songs: CRUD, an album's songs, the song filters."""
import pytest

from .helpers import assert_fail, create_album, create_song, unique

SONG = {"title": "Blue", "year": 1971, "genre": "Folk", "performer": "Joni Mitchell"}


# Albums

def test_create_album_returns_201_and_an_album_id(editor):
    response = editor.post("/albums", json={"name": "Blue", "year": 1971})
    assert response.status_code == 201
    assert response.get_json()["data"]["albumId"].startswith("album-")


def test_album_is_listed_and_read_with_its_songs(editor):
    name = unique("Album")
    album_id = create_album(editor, name=name, year=1999)
    song_id = create_song(editor, title="Track One", performer="Band", albumId=album_id)
    create_song(editor)  # a song of no album stays out of it

    listed = editor.get("/albums").get_json()["data"]["albums"]
    assert {"id": album_id, "name": name, "year": 1999} in listed

    response = editor.get(f"/albums/{album_id}")
    assert response.status_code == 200
    assert response.get_json()["data"]["album"] == {
        "id": album_id, "name": name, "year": 1999,
        "songs": [{"id": song_id, "title": "Track One", "performer": "Band"}],
    }


def test_update_album(editor):
    album_id = create_album(editor)
    response = editor.put(f"/albums/{album_id}", json={"name": "Renamed", "year": 2010})
    assert response.status_code == 200
    album = editor.get(f"/albums/{album_id}").get_json()["data"]["album"]
    assert (album["name"], album["year"]) == ("Renamed", 2010)


def test_delete_album_deletes_its_songs(editor):
    album_id = create_album(editor)
    song_id = create_song(editor, albumId=album_id)
    assert editor.delete(f"/albums/{album_id}").status_code == 200
    assert_fail(editor.get(f"/albums/{album_id}"), 404, "album")
    assert_fail(editor.get(f"/songs/{song_id}"), 404, "song")


@pytest.mark.parametrize("method", ["get", "delete"])
def test_unknown_album_is_404(editor, method):
    assert_fail(getattr(editor, method)("/albums/album-doesnotexist0000"), 404, "album not found")


def test_update_unknown_album_is_404(editor):
    assert_fail(editor.put("/albums/album-doesnotexist0000", json={"name": "X", "year": 2000}), 404, "album")


@pytest.mark.parametrize("body, words", [
    ({"year": 2000}, ['"name"', "required"]),
    ({"name": "X"}, ['"year"', "required"]),
    ({"name": "X", "year": "2000"}, ['"year"', "integer"]),
    ({"name": "X", "year": True}, ['"year"', "integer"]),
    ({"name": "X", "year": 2000.5}, ['"year"', "integer"]),
    ({"name": "X", "year": 0}, ['"year"', "between"]),
    ({"name": "X" * 256, "year": 2000}, ['"name"', "255"]),
    ({"name": 5, "year": 2000}, ['"name"', "string"]),
])
def test_invalid_album_is_400_naming_the_field(editor, body, words):
    assert_fail(editor.post("/albums", json=body), 400, *words)


def test_invalid_album_update_is_400(editor):
    album_id = create_album(editor)
    assert_fail(editor.put(f"/albums/{album_id}", json={"name": "X", "year": "old"}), 400, '"year"')


# Songs

def test_create_song_and_read_it_back(editor):
    album_id = create_album(editor)
    response = editor.post("/songs", json={**SONG, "duration": 180, "albumId": album_id})
    assert response.status_code == 201
    song_id = response.get_json()["data"]["songId"]
    assert song_id.startswith("song-")
    assert editor.get(f"/songs/{song_id}").get_json()["data"]["song"] == {
        "id": song_id, **SONG, "duration": 180, "albumId": album_id}


def test_duration_and_album_are_optional(editor):
    song_id = create_song(editor)
    song = editor.get(f"/songs/{song_id}").get_json()["data"]["song"]
    assert song["duration"] is None and song["albumId"] is None


def test_song_with_unknown_album_is_404(editor):
    assert_fail(editor.post("/songs", json={**SONG, "albumId": "album-doesnotexist0000"}), 404, "album")


def test_list_songs(editor):
    song_id = create_song(editor, title="Listed", performer="Lister")
    songs = editor.get("/songs").get_json()["data"]["songs"]
    assert {"id": song_id, "title": "Listed", "performer": "Lister"} in songs


def test_filter_songs_by_title_and_performer_case_insensitively(editor):
    marker = unique("zq")
    wanted = create_song(editor, title=f"Morning {marker} Light", performer="The Early Birds")
    other_performer = create_song(editor, title=f"Evening {marker}", performer="Night Owls")
    create_song(editor, title="Unrelated", performer="The Early Birds")

    by_title = editor.get("/songs", query_string={"title": marker.upper()}).get_json()["data"]["songs"]
    assert {song["id"] for song in by_title} == {wanted, other_performer}

    both = editor.get("/songs", query_string={"title": marker, "performer": "early bird"})
    assert [song["id"] for song in both.get_json()["data"]["songs"]] == [wanted]


def test_song_filter_treats_wildcards_literally(editor):
    marker = unique("pct")
    create_song(editor, title=f"{marker} plain")
    percent = create_song(editor, title=f"{marker} 100%")
    songs = editor.get("/songs", query_string={"title": f"{marker} 100%"}).get_json()["data"]["songs"]
    assert [song["id"] for song in songs] == [percent]
    assert editor.get("/songs", query_string={"title": "%_%" + marker}).get_json()["data"]["songs"] == []


def test_over_long_filter_is_400(editor):
    assert_fail(editor.get("/songs", query_string={"performer": "p" * 256}), 400, '"performer"')


def test_update_song(editor):
    song_id = create_song(editor)
    response = editor.put(f"/songs/{song_id}", json={**SONG, "title": "New Title", "duration": 99})
    assert response.status_code == 200
    song = editor.get(f"/songs/{song_id}").get_json()["data"]["song"]
    assert (song["title"], song["duration"]) == ("New Title", 99)


def test_update_song_with_unknown_album_is_404(editor):
    song_id = create_song(editor)
    assert_fail(editor.put(f"/songs/{song_id}", json={**SONG, "albumId": "album-nope"}), 404, "album")


def test_delete_song(editor):
    song_id = create_song(editor)
    assert editor.delete(f"/songs/{song_id}").status_code == 200
    assert_fail(editor.get(f"/songs/{song_id}"), 404, "song")


@pytest.mark.parametrize("method, kwargs", [
    ("get", {}), ("delete", {}), ("put", {"json": SONG}),
])
def test_unknown_song_is_404(editor, method, kwargs):
    assert_fail(getattr(editor, method)("/songs/song-doesnotexist0000", **kwargs), 404, "song not found")


@pytest.mark.parametrize("change, words", [
    ({"title": None}, ['"title"', "required"]),
    ({"genre": ["Pop"]}, ['"genre"', "string"]),
    ({"year": "1971"}, ['"year"', "integer"]),
    ({"duration": "3:00"}, ['"duration"', "integer"]),
    ({"duration": -1}, ['"duration"', "between"]),
    ({"duration": False}, ['"duration"', "integer"]),
    ({"performer": "p" * 256}, ['"performer"', "255"]),
    ({"albumId": 7}, ['"albumId"', "string"]),
])
def test_invalid_song_is_400_naming_the_field(editor, change, words):
    body = {key: value for key, value in {**SONG, **change}.items() if value is not None}
    assert_fail(editor.post("/songs", json=body), 400, *words)


# Writes need an access token; reads stay public.

WRITES = [
    ("post", "/albums", {"name": "X", "year": 2000}),
    ("put", "/albums/{album}", {"name": "X", "year": 2000}),
    ("delete", "/albums/{album}", None),
    ("post", "/songs", SONG),
    ("put", "/songs/{song}", SONG),
    ("delete", "/songs/{song}", None),
]


@pytest.mark.parametrize("method, path, body", WRITES)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not.a.jwt"}, {"Authorization": "Basic eDp5"}])
def test_writes_without_a_valid_access_token_are_401_and_change_nothing(client, editor, method, path, body, headers):
    album_id = create_album(editor, name="Untouched", year=1999)
    song_id = create_song(editor, title="Untouched", albumId=album_id)
    url = path.format(album=album_id, song=song_id)
    response = getattr(client, method)(url, json=body, headers=headers)
    assert_fail(response, 401)
    assert client.get(f"/albums/{album_id}").get_json()["data"]["album"]["name"] == "Untouched"
    assert client.get(f"/songs/{song_id}").get_json()["data"]["song"]["title"] == "Untouched"
    assert len(client.get("/albums").get_json()["data"]["albums"]) == len(
        editor.get("/albums").get_json()["data"]["albums"])


def test_anonymous_create_adds_nothing(client, editor):
    before = len(client.get("/songs").get_json()["data"]["songs"])
    assert_fail(client.post("/songs", json=SONG), 401)
    assert_fail(client.post("/albums", json={"name": "X", "year": 2000}), 401)
    assert len(client.get("/songs").get_json()["data"]["songs"]) == before


def test_reads_need_no_token(client, editor):
    album_id = create_album(editor)
    song_id = create_song(editor, albumId=album_id)
    for path in ("/albums", f"/albums/{album_id}", "/songs", f"/songs/{song_id}"):
        assert client.get(path).status_code == 200, path
