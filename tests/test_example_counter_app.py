"""The counter app end to end: sandbox process, real uvicorn server, headless Chromium.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``) and Selenium; skipped with the reason when missing.
Nothing is downloaded: Selenium is pointed at the system driver and browser.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from credit_check_sandbox.process import SandboxProcess
from credit_check_sandbox.seed import SCENARIO_SUBJECTS

from credit_check_sdk import AsyncCreditChecker

pytestmark = pytest.mark.sandbox

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[1]

if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    pytest.skip(
        f"headless browser test: {CHROMIUM} or {CHROMEDRIVER} missing "
        "(apt-get install -y chromium chromium-driver)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="headless browser test: selenium missing (extra: examples)"
)
uvicorn = pytest.importorskip("uvicorn", reason="needs uvicorn (extra: sandbox)")

from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
counter_app = importlib.import_module("examples.counter_app")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed_size=2000) as process:
        yield process


@pytest.fixture(scope="module")
def checker(
    sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AsyncCreditChecker]:
    made = sandbox.async_checker(tmp_path_factory.mktemp("counter-sdk"))
    try:
        yield made
    finally:
        # The app's event loop has ended by now: its connections are dropped, not closed.
        asyncio.run(made.aclose())


@pytest.fixture(scope="module")
def server_url(checker: AsyncCreditChecker) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        counter_app.create_app(checker), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the counter app's uvicorn server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1400",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def _check(driver: Any, url: str, subject: str, matter: str) -> None:
    driver.get(url + "/")
    driver.find_element(By.ID, "subject").send_keys(subject)
    Select(driver.find_element(By.ID, "matter")).select_by_value(matter)
    driver.find_element(By.ID, "operator").send_keys("u-counter-7")
    driver.find_element(By.ID, "check").click()
    WebDriverWait(driver, 15).until(
        expected_conditions.presence_of_element_located((By.ID, "outcome"))
    )


def _submit(driver: Any, button: str) -> None:
    driver.find_element(By.ID, button).click()
    WebDriverWait(driver, 15).until(
        lambda d: d.find_elements(By.ID, "recorded") or d.find_elements(By.ID, "error")
    )


def test_counter_check_apply_and_override_in_a_browser(
    sandbox: SandboxProcess,
    checker: AsyncCreditChecker,
    server_url: str,
    browser: Any,
    tmp_path: Path,
) -> None:
    defaulter = SCENARIO_SUBJECTS["judgment_defaulter_bidder"].id
    _check(browser, server_url, defaulter, "bidding")
    assert browser.find_element(By.ID, "outcome").get_attribute("data-outcome") == "restriction"
    measures = browser.find_element(By.ID, "measures").text
    assert "P-BID-EXCLUDE" in measures
    assert "限制参与有关公共资源交易活动" in measures
    reasons = browser.find_element(By.ID, "reasons").text
    assert reasons  # Chinese and English lines
    assert any("一" <= ch <= "鿿" for ch in reasons)
    assert any("a" <= ch <= "z" for ch in reasons)
    excluded_check = browser.find_element(By.ID, "check-id").text
    assert browser.save_screenshot(str(tmp_path / "counter-decision.png"))
    _submit(browser, "apply")
    assert browser.find_element(By.ID, "recorded").get_attribute("data-action") == "applied"
    applied_id = browser.find_element(By.ID, "action-id").text
    applied = checker.journal.get(applied_id)
    assert applied is not None
    assert applied["action"] == "applied"
    assert applied["check_id"] == excluded_check
    assert applied["measure_ids"] == ["P-BID-EXCLUDE"]
    assert applied["operator"] == "u-counter-7"

    # Another bidder: an override without a reason is refused, visibly, and nothing journaled.
    graded = SCENARIO_SUBJECTS["tax_grade_a"].id
    _check(browser, server_url, graded, "bidding")
    assert browser.find_element(By.ID, "outcome").get_attribute("data-outcome") == "normal"
    graded_check = browser.find_element(By.ID, "check-id").text
    before = sum(1 for r in checker.journal.iter_records() if r.get("check_id") == graded_check)
    _submit(browser, "override")
    error = browser.find_element(By.ID, "error")
    assert error.is_displayed()
    assert "reason" in error.text
    assert "理由" in error.text
    assert browser.find_element(By.ID, "check-id").text == graded_check  # the decision again
    after = sum(1 for r in checker.journal.iter_records() if r.get("check_id") == graded_check)
    assert after == before == 0

    # With a reason it is journaled as overridden.
    browser.find_element(By.ID, "reason").send_keys("评标委员会决定不计信用加分")
    _submit(browser, "override")
    assert browser.find_element(By.ID, "recorded").get_attribute("data-action") == "overridden"
    override_id = browser.find_element(By.ID, "action-id").text
    overridden = checker.journal.get(override_id)
    assert overridden is not None
    assert overridden["action"] == "overridden"
    assert overridden["check_id"] == graded_check
    assert overridden["reason"] == "评标委员会决定不计信用加分"
    shot = tmp_path / "counter-app.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Both actions reach the platform.
    assert asyncio.run(checker.flush(timeout=20)) == 0
    received = sandbox.admin(
        "GET", "/records", params={"agency_id": sandbox.app_id, "limit": 100_000}
    )
    ids = {r.get("id") for r in received}
    assert {applied_id, override_id, excluded_check, graded_check} <= ids


def test_a_bad_subject_id_is_shown_as_an_error(server_url: str, browser: Any) -> None:
    browser.get(server_url + "/")
    browser.find_element(By.ID, "subject").send_keys("91442000MA4UC00010")  # bad check character
    Select(browser.find_element(By.ID, "matter")).select_by_value("bidding")
    browser.find_element(By.ID, "check").click()
    error = WebDriverWait(browser, 15).until(
        expected_conditions.visibility_of_element_located((By.ID, "error"))
    )
    assert "cannot check" in error.text
    assert browser.find_element(By.ID, "subject").get_attribute("value") == "91442000MA4UC00010"
