"""The quick check at the end of lab.up: the login page and the API's health."""
from __future__ import annotations

import html

from ..config import LabConfig
from ..runlog import LabError, Run
from .http import wait_for


def smoke(config: LabConfig, run: Run, seconds: float = 90) -> None:
    with run.step("smoke: login page and API health through 127.0.0.1") as step:
        login = f"{config.web_url}login"
        page = wait_for(login, seconds, ok=lambda r: r.status == 200 and shows_login(r.text, config.app_name))
        if page is None or page.status != 200:
            raise LabError(f"the login page does not answer at {login}",
                           command=f"curl -i {login}", output=page.text[-800:] if page else "no answer",
                           hint="`invoke lab.status` shows the services; `docker service logs` on the manager tells more")
        health = f"{config.api_url}health"
        api = wait_for(health, seconds)
        if api is None or api.status != 200:
            raise LabError(f"the API does not answer at {health}",
                           command=f"curl -i {health}", output=api.text[-800:] if api else "no answer")
        step.detail = f"{login} and {health} answer 200"


def shows_login(page: str, app_name: str) -> bool:
    # The page escapes the app's name ("Rock &amp; Roll"): compare it as a reader sees it.
    return f"{app_name} | Login" in html.unescape(page)
