"""The pages' scripts in a real headless Chromium, against fake_music_api on
another origin (so CORS is exercised too). Skipped where Debian's chromium
and chromium-driver are not installed; about three seconds where they are."""
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from fake_music_api import FakeApi, create_fake_api
from lab.checks.browser import CHROMIUM_FLAGS
from musicweb import create_app
from musicweb.settings import Settings

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMEDRIVER and (shutil.which("chromium") or shutil.which("google-chrome"))),
    reason="no chromium + chromedriver here (apt-get install chromium chromium-driver)",
)


def serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/"


@pytest.fixture(scope="module")
def api():
    return FakeApi()


@pytest.fixture(scope="module")
def site(api):
    api_server, api_url = serve(create_fake_api(api))
    web_server, web_url = serve(create_app(Settings(app_name="Music", api_endpoint=api_url)))
    yield web_url
    web_server.shutdown()
    api_server.shutdown()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    # The lab's own flags: among them, no background connections off this machine.
    for argument in CHROMIUM_FLAGS:
        options.add_argument(argument)
    # An explicit driver path keeps Selenium Manager from trying to download one.
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(browser, condition, what):
    # While a page is being replaced, its elements vanish under our feet: retry.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    wait = WebDriverWait(browser, 5, poll_frequency=0.05, ignored_exceptions=ignored)
    wait.until(lambda _: condition(), message=what)


def text_of(browser, element_id):
    return browser.find_element(By.ID, element_id).text


def fill(browser, values):
    for element_id, value in values.items():
        field = browser.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(value)


def stored_tokens(browser):
    return browser.execute_script(
        "return [localStorage.getItem('accessToken'), localStorage.getItem('refreshToken')]")


def test_home_without_a_token_goes_to_login(browser, site):
    browser.get(site)
    wait_for(browser, lambda: browser.current_url == site + "login", "redirect to /login")


def test_register_then_login_shows_the_user(browser, site, api):
    browser.get(site + "register")
    fill(browser, {"username": "jane", "password": "secret-pw", "fullname": "Jane Doe"})
    browser.find_element(By.ID, "register-button").click()
    wait_for(browser, lambda: "Account created" in text_of(browser, "message"), "back on /login")

    fill(browser, {"username": "jane", "password": "wrong"})
    browser.find_element(By.ID, "login-button").click()
    wait_for(browser, lambda: text_of(browser, "message") == "Wrong credentials", "API's message shown")

    fill(browser, {"password": "secret-pw"})
    browser.find_element(By.ID, "login-button").click()
    wait_for(browser, lambda: text_of(browser, "current-user") == "Login as Jane Doe", "current user")
    assert all(stored_tokens(browser))


def test_library_creates_items_and_refreshes_an_expired_token(browser, site, api):
    fill(browser, {"album-name": "Blue", "album-year": "1971"})
    browser.find_element(By.ID, "album-button").click()
    wait_for(browser, lambda: "Blue (1971)" in text_of(browser, "album-list"), "album listed")

    fill(browser, {"song-title": "River", "song-year": "1971", "song-genre": "Folk", "song-performer": "Joni"})
    browser.find_element(By.ID, "song-button").click()
    wait_for(browser, lambda: "River – Joni" in text_of(browser, "song-list"), "song listed")

    api.expire_access_tokens()
    fill(browser, {"playlist-name": "Evening"})
    browser.find_element(By.ID, "playlist-button").click()
    wait_for(browser, lambda: "Evening (by jane)" in text_of(browser, "playlist-list"), "playlist listed")
    assert ("PUT", "/authentications") in api.calls

    browser.find_element(By.ID, "playlist-song-button").click()
    wait_for(browser, lambda: "River – Joni" in text_of(browser, "playlist-list"), "song in playlist")
    assert api.playlists[0]["songs"] == [api.songs[0]["id"]]


def test_logout_revokes_the_refresh_token_and_clears_storage(browser, site, api):
    assert api.refresh_tokens
    browser.find_element(By.ID, "logout").click()
    wait_for(browser, lambda: browser.current_url == site + "login", "back on /login")
    assert stored_tokens(browser) == [None, None]
    assert not api.refresh_tokens


def test_the_content_security_policy_is_in_force(browser, site, api):
    """The flows above ran under the pages' policy; here it must also refuse
    what it is for: a fetch to an origin other than the API's."""
    browser.get(site + "login")
    wait_for(browser, lambda: browser.find_element(By.ID, "login-button").is_displayed(), "login page")
    outcome = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const violations = [];
        document.addEventListener("securitypolicyviolation", (e) => violations.push(e.violatedDirective));
        fetch("http://127.0.0.1:9/elsewhere")
          .then(() => done({fetched: true, violations}))
          .catch(() => setTimeout(() => done({fetched: false, violations}), 100));
    """)
    assert outcome == {"fetched": False, "violations": ["connect-src"]}
    # The page's own script (api.js) did load and run under the policy.
    assert browser.execute_script("return typeof window.MusicApi.request") == "function"


def test_a_busy_answer_is_tried_again_once(browser, site, api):
    browser.get(site + "login")
    logins_before = api.calls.count(("POST", "/authentications"))
    api.busy_answers = 1
    fill(browser, {"username": "jane", "password": "secret-pw"})
    browser.find_element(By.ID, "login-button").click()
    wait_for(browser, lambda: text_of(browser, "current-user") == "Login as Jane Doe", "logged in after one 429")
    assert api.busy_answers == 0
    assert api.calls.count(("POST", "/authentications")) == logins_before + 2  # the 429 and the retry
    api.busy_answers = 2
    browser.find_element(By.ID, "logout").click()
    wait_for(browser, lambda: browser.current_url == site + "login", "back on /login")
    fill(browser, {"username": "jane", "password": "secret-pw"})
    browser.find_element(By.ID, "login-button").click()
    wait_for(browser, lambda: "try again" in text_of(browser, "message"), "the second 429 shown")
