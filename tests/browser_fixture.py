"""Real-browser fixtures (a plugin of tests/conftest.py): headless Debian Chromium driven by
Selenium (`browser`), the folder every page's screenshot goes to (`shots`), and `Served`, an app
served by uvicorn on a loopback port in a thread of its own, as `xiaoer serve` serves it.

Needs Debian `chromium` and `chromium-driver` (`scripts/bootstrap.sh test` installs them). Without
them the tests skip, except under `CI=true`, where they fail. Screenshots go to
`$XIAOER_SCREENSHOTS` (default: a pytest tmp folder); the folder is printed at the end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 15  # seconds a page or the server may take to appear; a limit, never a measurement


def _missing_browser() -> str:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if not missing:
        return ""
    reason = f"no {' or '.join(missing)}: `scripts/bootstrap.sh test` installs them"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
    return reason


@pytest.fixture(scope="session")
def shots(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Path]:
    folder = Path(os.environ.get("XIAOER_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():  # shown with -q too, not only on failure
        print(f"\nscreenshots: {folder} ({len(list(folder.glob('*.png')))} PNG)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    if reason := _missing_browser():
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


def assert_fields_are_labelled(driver: WebDriver) -> None:
    fields = driver.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select, textarea")
    for field in fields:
        labels = driver.execute_script("return arguments[0].labels.length", field)
        what = field.get_attribute("outerHTML")
        assert labels > 0, f"no <label> for {what} on {driver.current_url}"
        assert field.accessible_name.strip(), f"no accessible name for {what}"


def sign_in(driver: WebDriver, root: str, name: str, password: str, shop: str = "mini") -> None:
    """Sign in to the console at `root` through its labelled form, and land on the shop."""
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{root}/console/login")
    for label, value in (("账号", name), ("密码", password)):
        found = driver.find_element(By.XPATH, f"//label[normalize-space()='{label}']")
        driver.find_element(By.ID, found.get_attribute("for") or "").send_keys(value)
    driver.find_element(By.XPATH, "//button[normalize-space()='登录']").click()
    WebDriverWait(driver, WAIT).until(EC.url_to_be(f"{root}/console/{shop}/"))


class Served:
    """`make()` builds the app inside the server's own event loop (with its runtime and data);
    `cleanup()` runs there after the server stopped. Use as a context manager: `url` is the
    server's root."""

    def __init__(
        self,
        make: Callable[[], Awaitable[FastAPI]],
        cleanup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.make, self.cleanup = make, cleanup
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.box: dict[str, object] = {}
        self.thread = threading.Thread(target=self._run, name="served-app", daemon=True)

    async def _serve(self) -> None:
        try:
            app = await self.make()
            config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on")
            server = uvicorn.Server(config)
            self.box["server"] = server
            await server.serve(sockets=[self.sock])
        finally:
            if self.cleanup is not None:
                await self.cleanup()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # shown to the test instead of dying silently
            self.box["error"] = exc

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + WAIT
        while not getattr(self.box.get("server"), "started", False):
            assert "error" not in self.box, self.box["error"]
            assert self.thread.is_alive() and time.monotonic() < deadline, "no server"
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        server = self.box["server"]
        assert isinstance(server, uvicorn.Server)
        server.should_exit = True
        self.thread.join(WAIT)
        self.sock.close()
        assert "error" not in self.box, self.box["error"]
