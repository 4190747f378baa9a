"""/albums and /songs: CRUD, an album's songs, the song filters."""
import pytest

from .helpers import assert_fail, create_album, create_song, unique

SONG = {"title": "Blue", "year": 1971, "genre": "Folk", "performer": "Joni Mitchell"}


# Albums

def test_create_album_returns_201_and_an_album_id(client):
    response = client.post("/albums", json={"name": "Blue", "year": 1971})
    assert response.status_code == 201
    assert response.get_json()["data"]["albumId"].startswith("album-")


def test_album_is_listed_and_read_with_its_songs(client):
    name = unique("Album")
    album_id = create_album(client, name=name, year=1999)
    song_id = create_song(client, title="Track One", performer="Band", albumId=album_id)
    create_song(client)  # a song of no album stays out of it

    listed = client.get("/albums").get_json()["data"]["albums"]
    assert {"id": album_id, "name": name, "year": 1999} in listed

    response = client.get(f"/albums/{album_id}")
    assert response.status_code == 200
    assert response.get_json()["data"]["album"] == {
        "id": album_id, "name": name, "year": 1999,
        "songs": [{"id": song_id, "title": "Track One", "performer": "Band"}],
    }


def test_update_album(client):
    album_id = create_album(client)
    response = client.put(f"/albums/{album_id}", json={"name": "Renamed", "year": 2010})
    assert response.status_code == 200
    album = client.get(f"/albums/{album_id}").get_json()["data"]["album"]
    assert (album["name"], album["year"]) == ("Renamed", 2010)


def test_delete_album_deletes_its_songs(client):
    album_id = create_album(client)
    song_id = create_song(client, albumId=album_id)
    assert client.delete(f"/albums/{album_id}").status_code == 200
    assert_fail(client.get(f"/albums/{album_id}"), 404, "album")
    assert_fail(client.get(f"/songs/{song_id}"), 404, "song")


@pytest.mark.parametrize("method", ["get", "delete"])
def test_unknown_album_is_404(client, method):
    assert_fail(getattr(client, method)("/albums/album-doesnotexist0000"), 404, "album not found")


def test_update_unknown_album_is_404(client):
    assert_fail(client.put("/albums/album-doesnotexist0000", json={"name": "X", "year": 2000}), 404, "album")


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
def test_invalid_album_is_400_naming_the_field(client, body, words):
    assert_fail(client.post("/albums", json=body), 400, *words)


def test_invalid_album_update_is_400(client):
    album_id = create_album(client)
    assert_fail(client.put(f"/albums/{album_id}", json={"name": "X", "year": "old"}), 400, '"year"')


# Songs

def test_create_song_and_read_it_back(client):
    album_id = create_album(client)
    response = client.post("/songs", json={**SONG, "duration": 180, "albumId": album_id})
    assert response.status_code == 201
    song_id = response.get_json()["data"]["songId"]
    assert song_id.startswith("song-")
    assert client.get(f"/songs/{song_id}").get_json()["data"]["song"] == {
        "id": song_id, **SONG, "duration": 180, "albumId": album_id}


def test_duration_and_album_are_optional(client):
    song_id = create_song(client)
    song = client.get(f"/songs/{song_id}").get_json()["data"]["song"]
    assert song["duration"] is None and song["albumId"] is None


def test_song_with_unknown_album_is_404(client):
    assert_fail(client.post("/songs", json={**SONG, "albumId": "album-doesnotexist0000"}), 404, "album")


def test_list_songs(client):
    song_id = create_song(client, title="Listed", performer="Lister")
    songs = client.get("/songs").get_json()["data"]["songs"]
    assert {"id": song_id, "title": "Listed", "performer": "Lister"} in songs


def test_filter_songs_by_title_and_performer_case_insensitively(client):
    marker = unique("zq")
    wanted = create_song(client, title=f"Morning {marker} Light", performer="The Early Birds")
    other_performer = create_song(client, title=f"Evening {marker}", performer="Night Owls")
    create_song(client, title="Unrelated", performer="The Early Birds")

    by_title = client.get("/songs", query_string={"title": marker.upper()}).get_json()["data"]["songs"]
    assert {song["id"] for song in by_title} == {wanted, other_performer}

    both = client.get("/songs", query_string={"title": marker, "performer": "early bird"})
    assert [song["id"] for song in both.get_json()["data"]["songs"]] == [wanted]


def test_song_filter_treats_wildcards_literally(client):
    marker = unique("pct")
    create_song(client, title=f"{marker} plain")
    percent = create_song(client, title=f"{marker} 100%")
    songs = client.get("/songs", query_string={"title": f"{marker} 100%"}).get_json()["data"]["songs"]
    assert [song["id"] for song in songs] == [percent]
    assert client.get("/songs", query_string={"title": "%_%" + marker}).get_json()["data"]["songs"] == []


def test_over_long_filter_is_400(client):
    assert_fail(client.get("/songs", query_string={"performer": "p" * 256}), 400, '"performer"')


def test_update_song(client):
    song_id = create_song(client)
    response = client.put(f"/songs/{song_id}", json={**SONG, "title": "New Title", "duration": 99})
    assert response.status_code == 200
    song = client.get(f"/songs/{song_id}").get_json()["data"]["song"]
    assert (song["title"], song["duration"]) == ("New Title", 99)


def test_update_song_with_unknown_album_is_404(client):
    song_id = create_song(client)
    assert_fail(client.put(f"/songs/{song_id}", json={**SONG, "albumId": "album-nope"}), 404, "album")


def test_delete_song(client):
    song_id = create_song(client)
    assert client.delete(f"/songs/{song_id}").status_code == 200
    assert_fail(client.get(f"/songs/{song_id}"), 404, "song")


@pytest.mark.parametrize("method, kwargs", [
    ("get", {}), ("delete", {}), ("put", {"json": SONG}),
])
def test_unknown_song_is_404(client, method, kwargs):
    assert_fail(getattr(client, method)("/songs/song-doesnotexist0000", **kwargs), 404, "song not found")


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
def test_invalid_song_is_400_naming_the_field(client, change, words):
    body = {key: value for key, value in {**SONG, **change}.items() if value is not None}
    assert_fail(client.post("/songs", json=body), 400, *words)
