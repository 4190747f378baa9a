"""The pages as APP-SPEC.md "Pages" describes them, rendered by Flask's test
client: what a trainee (and the browser checks) will look for."""
import pytest

from frontend_html import Page
from musicweb import create_app
from musicweb.settings import Settings


def test_login_page_matches_the_spec(get_page):
    page = get_page("/login")
    assert page.title == "Music | Login"
    assert page.texts("h1") == ["Welcome to Music"]
    assert "Please Login to Continue" in page.texts("p")
    assert page.by_id("username").attrs["name"] == "username"
    password = page.by_id("password")
    assert (password.attrs["name"], password.attrs["type"]) == ("password", "password")
    button = page.by_id("login-button")
    assert (button.tag, button.attrs["type"], button.text) == ("button", "submit", "Login")
    assert page.one("a", href="/register").text == "Register new account"


def test_login_page_confirms_a_new_account(get_page):
    assert get_page("/login").by_id("message").text == ""
    assert "Account created" in get_page("/login?registered=1").by_id("message").text


def test_register_page_matches_the_spec(get_page):
    page = get_page("/register")
    assert page.title == "Music | Register"
    for field in ("username", "password", "fullname"):
        assert page.by_id(field).attrs["name"] == field
    assert page.by_id("password").attrs["type"] == "password"
    button = page.by_id("register-button")
    assert (button.attrs["type"], button.text) == ("submit", "Register")
    assert page.one("a", href="/login").text == "Back to login"


def test_home_page_has_user_logout_and_three_sections(get_page):
    page = get_page("/")
    assert page.title == "Music"
    assert page.by_id("current-user").tag == "span"
    assert page.one("a", id="logout").text == "Logout"
    assert page.texts("h2") == ["Albums", "Songs", "Playlists"]
    # Hidden until the script knows who is logged in.
    assert "hidden" in page.by_id("library").attrs


@pytest.mark.parametrize(
    "form_id, fields",
    [
        ("album-form", {"name", "year"}),
        ("song-form", {"title", "year", "genre", "performer"}),
        ("playlist-form", {"name"}),
        ("playlist-song-form", {"playlistId", "songId"}),
    ],
)
def test_home_page_forms_send_the_api_fields(client, form_id, fields):
    html = client.get("/").get_data(as_text=True)
    start = html.index(f'id="{form_id}"')
    form = Page(html[start:html.index("</form>", start)])
    named = {e.attrs["name"] for e in form.elements if e.tag in ("input", "select")}
    assert named == fields
    assert len(form.find_all("button", type="submit")) == 1


@pytest.mark.parametrize("path", ["/login", "/register", "/"])
def test_every_page_carries_the_api_endpoint_and_its_scripts(client, get_page, api_endpoint, path):
    page = get_page(path)
    assert page.one("meta", name="api-endpoint").attrs["content"] == api_endpoint
    scripts = [e.attrs["src"] for e in page.find_all("script")]
    assert scripts[0] == "/static/api.js"
    for src in scripts + [page.one("link", rel="stylesheet").attrs["href"]]:
        assert client.get(src).status_code == 200, src


def test_app_name_is_escaped_not_injected(api_endpoint):
    app = create_app(Settings(app_name="<b>Rock</b> & Roll", api_endpoint=api_endpoint))
    html = app.test_client().get("/login").get_data(as_text=True)
    assert "<b>" not in html
    assert Page(html).title == "<b>Rock</b> & Roll | Login"


def test_health_answers_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_data(as_text=True).strip() == "ok"


def test_unknown_page_is_404(client):
    assert client.get("/nope").status_code == 404


@pytest.mark.parametrize("path", ["/login", "/register", "/"])
def test_pages_carry_a_content_security_policy(client, api_endpoint, path):
    headers = client.get(path).headers
    policy = {part.split()[0]: part.split()[1:] for part in headers["Content-Security-Policy"].split("; ")}
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == [api_endpoint.rstrip("/")]
    assert policy["frame-ancestors"] == ["'none'"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_pages_have_no_inline_script_or_style(get_page):
    """The policy allows neither; an inline one would silently stop working."""
    for path in ("/login", "/register", "/"):
        page = get_page(path)
        scripts = page.find_all("script")
        assert scripts and all(s.attrs.get("src") and not s.text.strip() for s in scripts), path
        assert not page.find_all("style"), path
        inline = [(e.tag, name) for e in page.find_all() for name in e.attrs
                  if name == "style" or name.startswith("on")]
        assert inline == [], path


def test_register_page_asks_for_8_characters(get_page):
    page = get_page("/register")
    password = page.by_id("password")
    assert password.attrs["minlength"] == "8"
    assert "8 characters" in page.by_id("password-hint").text
