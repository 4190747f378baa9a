"""A real browser: Debian's chromium driven by Selenium through Debian's
chromedriver. Never a downloaded browser or driver."""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..runlog import LabError

# Without these Chromium reaches out to Google's services at every start;
# this machine's lab must not send traffic anywhere but 127.0.0.1.
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-default-apps", "--window-size=1280,900",
    # The checks open 127.0.0.1 only; any other name chromium would look up on
    # its own (Google services, even with background networking off) resolves
    # to nothing, so a classroom offline sees no DNS query from it.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
)


def available() -> bool:
    return bool(shutil.which("chromedriver") and (shutil.which("chromium") or Path("/usr/bin/chromium").exists()))


@contextmanager
def chromium():
    if not available():
        raise LabError("chromium and chromedriver are not installed",
                       hint="apt-get install -y chromium chromium-driver (./labctl up installs them)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="lab-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        # An explicit driver path keeps Selenium Manager from downloading one.
        service = webdriver.ChromeService(shutil.which("chromedriver"))
        driver = webdriver.Chrome(service=service, options=options)
        try:
            yield driver
        finally:
            driver.quit()


def wait_until(driver, condition, what: str, seconds: float = 15) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)
    WebDriverWait(driver, seconds, poll_frequency=0.1, ignored_exceptions=ignored).until(
        lambda _: condition(), message=f"timed out waiting for {what}")


def register_and_login(driver, web_url: str, username: str, password: str, fullname: str,
                       screenshot: Path, wait: float = 15) -> str:
    """The newcomer's path: /login -> register -> log in -> "Login as <fullname>"."""
    from selenium.webdriver.common.by import By

    def fill(values):
        for element_id, value in values.items():
            field = driver.find_element(By.ID, element_id)
            field.clear()
            field.send_keys(value)

    def text(element_id):
        return driver.find_element(By.ID, element_id).text

    driver.get(web_url + "login")
    driver.find_element(By.LINK_TEXT, "Register new account").click()
    wait_until(driver, lambda: driver.current_url.endswith("/register"), "the register page", wait)
    fill({"username": username, "password": password, "fullname": fullname})
    driver.find_element(By.ID, "register-button").click()
    wait_until(driver, lambda: "/login" in driver.current_url and driver.find_elements(By.ID, "login-button"),
               "the login page after registering", wait)
    fill({"username": username, "password": password})
    driver.find_element(By.ID, "login-button").click()
    wait_until(driver, lambda: text("current-user") == f"Login as {fullname}", f"'Login as {fullname}'", wait)
    driver.save_screenshot(str(screenshot))
    return text("current-user")
