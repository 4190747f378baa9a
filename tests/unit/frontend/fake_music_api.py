"""An in-memory stand-in for musicapp's API, just as the frontend's scripts
use it: the same paths, JSON shapes, status codes and CORS as the contract.
It lets a real browser run the pages without the backend or a database."""
import base64
import itertools
import json

from flask import Flask, jsonify, request


def fake_jwt(user_id, serial):
    """Only the payload matters to the browser; the signature is never read."""
    payload = json.dumps({"id": user_id, "n": serial}).encode()
    return "e30." + base64.urlsafe_b64encode(payload).decode().rstrip("=") + ".sig"


class FakeApi:
    def __init__(self):
        self.users = {}
        self.access_tokens = {}
        self.refresh_tokens = {}
        self.albums, self.songs, self.playlists = [], [], []
        self.calls = []
        self.busy_answers = 0  # how many next logins get 429, as nginx-backend's limit answers
        self._ids = itertools.count(1)

    def new_id(self, kind):
        return f"{kind}-{next(self._ids):016d}"

    def issue_access_token(self, user_id):
        token = fake_jwt(user_id, next(self._ids))
        self.access_tokens[token] = user_id
        return token

    def issue_refresh_token(self, user_id):
        token = f"refresh-{next(self._ids)}"
        self.refresh_tokens[token] = user_id
        return token

    def expire_access_tokens(self):
        self.access_tokens.clear()


def success(data=None, status=200):
    return jsonify({"status": "success", "data": data or {}}), status


def fail(message, status):
    return jsonify({"status": "fail", "message": message}), status


def create_fake_api(api):
    app = Flask(__name__)

    @app.before_request
    def record_and_answer_preflight():
        if request.method == "OPTIONS":
            return "", 204
        api.calls.append((request.method, request.path))
        return None

    @app.after_request
    def allow_any_origin(response):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE"
        return response

    def caller():
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return api.access_tokens.get(token)

    @app.post("/users")
    def add_user():
        body = request.get_json()
        if any(u["username"] == body["username"] for u in api.users.values()):
            return fail("Username already taken", 400)
        user_id = api.new_id("user")
        api.users[user_id] = body
        return success({"userId": user_id}, 201)

    @app.get("/users/<user_id>")
    def get_user(user_id):
        user = api.users.get(user_id)
        if not user:
            return fail("User not found", 404)
        return success({"user": {"username": user["username"], "fullname": user["fullname"]}})

    @app.post("/authentications")
    def log_in():
        if api.busy_answers:
            api.busy_answers -= 1
            return fail("too many requests, try again in a moment", 429)
        body = request.get_json()
        for user_id, user in api.users.items():
            if (user["username"], user["password"]) == (body["username"], body["password"]):
                tokens = {
                    "accessToken": api.issue_access_token(user_id),
                    "refreshToken": api.issue_refresh_token(user_id),
                }
                return success(tokens, 201)
        return fail("Wrong credentials", 401)

    @app.put("/authentications")
    def refresh_access():
        user_id = api.refresh_tokens.get(request.get_json()["refreshToken"])
        if not user_id:
            return fail("Invalid refresh token", 400)
        return success({"accessToken": api.issue_access_token(user_id)})

    @app.delete("/authentications")
    def log_out():
        api.refresh_tokens.pop(request.get_json()["refreshToken"], None)
        return success()

    @app.route("/albums", methods=["GET", "POST"])
    def albums():
        if request.method == "GET":
            return success({"albums": api.albums})
        if not caller():
            return fail("Missing or expired access token", 401)
        album = {"id": api.new_id("album"), **request.get_json()}
        api.albums.append(album)
        return success({"albumId": album["id"]}, 201)

    @app.route("/songs", methods=["GET", "POST"])
    def songs():
        if request.method == "GET":
            return success({"songs": [{k: s[k] for k in ("id", "title", "performer")} for s in api.songs]})
        if not caller():
            return fail("Missing or expired access token", 401)
        song = {"id": api.new_id("song"), **request.get_json()}
        api.songs.append(song)
        return success({"songId": song["id"]}, 201)

    @app.route("/playlists", methods=["GET", "POST"])
    def playlists():
        user_id = caller()
        if not user_id:
            return fail("Missing or expired access token", 401)
        if request.method == "GET":
            own = [p for p in api.playlists if p["owner"] == user_id]
            return success({"playlists": [{k: p[k] for k in ("id", "name", "username")} for p in own]})
        playlist = {
            "id": api.new_id("playlist"),
            "name": request.get_json()["name"],
            "username": api.users[user_id]["username"],
            "owner": user_id,
            "songs": [],
        }
        api.playlists.append(playlist)
        return success({"playlistId": playlist["id"]}, 201)

    @app.route("/playlists/<playlist_id>/songs", methods=["GET", "POST", "DELETE"])
    def playlist_songs(playlist_id):
        user_id = caller()
        if not user_id:
            return fail("Missing or expired access token", 401)
        playlist = next(p for p in api.playlists if p["id"] == playlist_id)
        if request.method == "GET":
            songs = [{k: s[k] for k in ("id", "title", "performer")} for s in api.songs if s["id"] in playlist["songs"]]
            return success({"playlist": {**{k: playlist[k] for k in ("id", "name", "username")}, "songs": songs}})
        song_id = request.get_json()["songId"]
        if request.method == "POST":
            playlist["songs"].append(song_id)
            return success(status=201)
        playlist["songs"].remove(song_id)
        return success()

    return app
