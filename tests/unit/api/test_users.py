"""POST /users and GET /users/<id>."""
import bcrypt
import pytest

from .helpers import assert_fail, unique


def register(client, **fields):
    body = {"username": unique("user"), "password": "secret-pw", "fullname": "Jane Doe", **fields}
    return client.post("/users", json=body)


def test_register_returns_201_and_a_user_id(client):
    response = register(client)
    body = response.get_json()
    assert response.status_code == 201
    assert body["status"] == "success"
    user_id = body["data"]["userId"]
    assert user_id.startswith("user-") and len(user_id) == len("user-") + 16


def test_registered_user_can_be_read_back(client):
    username = unique("user")
    user_id = register(client, username=username, fullname="Jane Doe").get_json()["data"]["userId"]
    response = client.get(f"/users/{user_id}")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "success",
        "data": {"user": {"id": user_id, "username": username, "fullname": "Jane Doe"}},
    }


def test_duplicate_username_is_400(client):
    username = unique("user")
    assert register(client, username=username).status_code == 201
    assert_fail(register(client, username=username), 400, "username", "taken")


def test_unknown_user_is_404(client):
    assert_fail(client.get("/users/user-doesnotexist0000"), 404, "user")


def test_password_is_stored_as_a_bcrypt_hash(client, db_connection):
    username = unique("user")
    register(client, username=username, password="correct horse")
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT password FROM users WHERE username = %s", (username,))
        (stored,) = cursor.fetchone()
    assert stored != "correct horse"
    assert stored.startswith("$2b$")
    assert bcrypt.checkpw(b"correct horse", stored.encode())


def test_missing_field_is_400_naming_it(client):
    response = client.post("/users", json={"username": unique("user"), "password": "secret-pw"})
    assert_fail(response, 400, '"fullname"', "required")


def test_non_string_username_is_400(client):
    assert_fail(register(client, username=12345), 400, '"username"', "string")


def test_empty_password_is_400(client):
    assert_fail(register(client, password=""), 400, '"password"', "empty")


def test_over_long_username_is_400(client):
    assert_fail(register(client, username="u" * 51), 400, '"username"', "50")


def test_password_over_72_bytes_is_400(client):
    # 37 two-byte characters: short in characters, too long for bcrypt.
    assert_fail(register(client, password="é" * 37), 400, '"password"', "72 bytes")


def test_nul_character_is_400(client):
    assert_fail(register(client, fullname="Jane\x00Doe"), 400, '"fullname"', "NUL")


@pytest.mark.parametrize("password", ["1234567", "short", "é" * 7])
def test_password_shorter_than_8_characters_is_400(client, password):
    assert_fail(register(client, password=password), 400, '"password"', "at least 8")


def test_password_of_8_characters_is_accepted(client):
    assert register(client, password="12345678").status_code == 201


def test_lone_surrogate_in_a_field_is_400(client):
    # json.dumps writes a lone surrogate as the escape "\ud800", as an attacker would.
    response = client.post("/users", data='{"username": "u-\\ud800", "password": "secret-pw", "fullname": "X"}',
                           content_type="application/json")
    assert_fail(response, 400, '"username"', "surrogate")


def test_lone_surrogate_in_a_password_is_400(client):
    response = client.post("/users", data='{"username": "u-sur", "password": "secret-\\udc00x", "fullname": "X"}',
                           content_type="application/json")
    assert_fail(response, 400, '"password"', "surrogate")
