"""POST/PUT/DELETE /authentications: login, access-token refresh, logout."""
import jwt

from .helpers import ACCESS_KEY, REFRESH_KEY, assert_fail, login, unique


def test_login_returns_201_with_both_tokens(client, user):
    response = login(client, user.username, user.password)
    data = response.get_json()["data"]
    assert response.status_code == 201
    payload = jwt.decode(data["accessToken"], ACCESS_KEY, algorithms=["HS256"])
    assert payload["id"] == user.id
    assert payload["exp"] - payload["iat"] == 1800
    assert jwt.decode(data["refreshToken"], REFRESH_KEY, algorithms=["HS256"])["id"] == user.id


def test_refresh_token_is_stored(client, user, db_connection):
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authentications WHERE token = %s", (user.refresh_token,))
        assert cursor.fetchone() == (1,)


def test_wrong_password_is_401(client, user):
    assert_fail(login(client, user.username, "not-the-password"), 401, "wrong")


def test_unknown_user_login_is_401(client):
    assert_fail(login(client, unique("nobody"), "whatever"), 401, "wrong")


def test_login_without_password_is_400(client, user):
    assert_fail(client.post("/authentications", json={"username": user.username}), 400, '"password"')


def test_refresh_gives_a_new_access_token(client, user):
    response = client.put("/authentications", json={"refreshToken": user.refresh_token})
    assert response.status_code == 200
    token = response.get_json()["data"]["accessToken"]
    assert jwt.decode(token, ACCESS_KEY, algorithms=["HS256"])["id"] == user.id


def test_refresh_with_bogus_token_is_400(client):
    assert_fail(client.put("/authentications", json={"refreshToken": "not.a.jwt"}), 400, "refresh token")


def test_refresh_with_an_access_token_is_400(client, user):
    # Signed with the other key, so it must not pass as a refresh token.
    assert_fail(client.put("/authentications", json={"refreshToken": user.access_token}), 400, "refresh token")


def test_refresh_with_a_validly_signed_but_unstored_token_is_400(client, user):
    token = jwt.encode({"id": user.id, "iat": 1}, REFRESH_KEY, algorithm="HS256")
    assert_fail(client.put("/authentications", json={"refreshToken": token}), 400, "refresh token")


def test_refresh_without_token_is_400_naming_the_field(client):
    assert_fail(client.put("/authentications", json={}), 400, '"refreshToken"', "required")


def test_logout_then_refresh_fails(client, user):
    response = client.delete("/authentications", json={"refreshToken": user.refresh_token})
    assert response.status_code == 200
    assert response.get_json()["status"] == "success"
    assert_fail(client.put("/authentications", json={"refreshToken": user.refresh_token}), 400)


def test_logout_twice_is_400(client, user):
    client.delete("/authentications", json={"refreshToken": user.refresh_token})
    assert_fail(client.delete("/authentications", json={"refreshToken": user.refresh_token}), 400, "refresh token")


def test_two_logins_in_the_same_second_get_distinct_refresh_tokens(client, user):
    first = login(client, user.username, user.password).get_json()["data"]["refreshToken"]
    second = login(client, user.username, user.password).get_json()["data"]["refreshToken"]
    assert first != second
