"""Shared constants and small helpers of the API tests."""
import time
import uuid

import jwt

ROLE, PASSWORD, DATABASE = "musicapp", "test-db-password", "musicapp"
ACCESS_KEY = "test-access-key-" + "a" * 32
REFRESH_KEY = "test-refresh-key-" + "b" * 32


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def make_access_token(user_id, key=ACCESS_KEY, issued_ago=0, age=1800):
    """An access token as the API issues them, but with the key and times chosen here."""
    issued = int(time.time()) - issued_ago
    return jwt.encode({"id": user_id, "iat": issued, "exp": issued + age}, key, algorithm="HS256")


class User:
    """A registered user with a fresh login."""

    def __init__(self, client):
        self.username = unique("user")
        self.password = "s3cret-" + uuid.uuid4().hex[:8]
        self.fullname = "Test " + self.username
        response = client.post("/users", json={
            "username": self.username, "password": self.password, "fullname": self.fullname})
        assert response.status_code == 201, response.get_json()
        self.id = response.get_json()["data"]["userId"]
        tokens = login(client, self.username, self.password).get_json()["data"]
        self.access_token = tokens["accessToken"]
        self.refresh_token = tokens["refreshToken"]

    @property
    def headers(self):
        return bearer(self.access_token)


def login(client, username, password):
    return client.post("/authentications", json={"username": username, "password": password})


def create_album(client, name="An Album", year=2001):
    response = client.post("/albums", json={"name": name, "year": year})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]["albumId"]


def create_song(client, **fields):
    body = {"title": unique("Song"), "year": 2001, "genre": "Pop", "performer": "Someone", **fields}
    response = client.post("/songs", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]["songId"]


def create_playlist(client, owner, name="Mix"):
    response = client.post("/playlists", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]["playlistId"]


def assert_fail(response, status_code, *words):
    """A client error in the API's envelope whose message mentions every word."""
    body = response.get_json()
    assert response.status_code == status_code, body
    assert body["status"] == "fail", body
    for word in words:
        assert word in body["message"], body
