"""The merchant console in a real browser: headless Chromium driven by Selenium against the app
served by uvicorn on a loopback port, on a temporary SQLite workspace seeded here. The browser,
the screenshots folder and the serving thread are tests/browser_fixture.py's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from browser_fixture import WAIT, Served, assert_fields_are_labelled
from console_fixture import NOW, PASSWORD, SH
from minishop import write_bundle
from xiaoer.api.app import create_app
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service
from xiaoer.store.repositories import ConversationRepository, HandoffRepository


@dataclass(frozen=True)
class Chat:
    id: str
    shopper: str
    asked: datetime
    question: str
    answer: str | None  # None: handed to a human, never answered
    after: timedelta = timedelta(0)


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 20, hour, minute, tzinfo=SH)  # NOW's day, in the shop's timezone


CHATS = [
    Chat("b1", "U1", _at(9), "积分怎么抵现", "100 积分抵 1 元", timedelta(seconds=15)),
    Chat("b2", "U2", _at(9, 30), "发票怎么开", "下单时填写抬头即可", timedelta(seconds=240)),
    Chat("b3", "U3", _at(10), "有没有白色41码", "有的，现货", timedelta(seconds=90)),
    Chat("b4", "U4", _at(11), "我要找人工客服", None),
]
HANDED = "b4"


def _rate(hits: int, total: int) -> str:
    return f"{hits / total:.1%}"


# The dashboard's figures, computed here from CHATS (all 08:00–23:00 on one day, one round each)
EXPECTED_CONVERSATIONS = str(len(CHATS))
EXPECTED_TAOBAO_3MIN = _rate(
    sum(c.answer is not None and c.after <= timedelta(seconds=180) for c in CHATS), len(CHATS)
)
EXPECTED_HANDOFF_RATE = _rate(sum(c.id == HANDED for c in CHATS), len(CHATS))
# 质检: a chat never answered, older than 3 minutes at NOW (14:00), is unanswered
EXPECTED_UNANSWERED_RATE = _rate(sum(c.answer is None for c in CHATS), len(CHATS))


async def _seed(runtime: Runtime) -> None:
    async with runtime.sessions() as s:
        now = runtime.clock()
        await accounts_service.add(s, "boss", PASSWORD, "owner", ["mini"], now)
        await accounts_service.add(s, "li", PASSWORD, "agent", ["mini"], now)
        repo = ConversationRepository(s, "mini")
        for c in CHATS:
            await repo.create(c.id, c.shopper, "api", c.asked)
            q = await repo.add_message(c.id, "shopper", c.question, c.asked)
            if c.answer is not None:
                await repo.add_message(
                    c.id, "assistant", c.answer, c.asked + c.after, reply_to=q.id
                )
        handed = next(c for c in CHATS if c.id == HANDED)
        await HandoffRepository(s, "mini").open(
            handed.id, handed.shopper, "asked", detail="顾客要求", priority=2,
            summary={"need": handed.question, "tried": [], "orders": ["O9"]}, now=handed.asked,
        )  # fmt: skip
        await s.commit()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The served app (`create_app`, as `xiaoer serve` builds it) in a thread of its own."""
    root = tmp_path_factory.mktemp("browser")
    box: dict[str, Runtime] = {}

    async def make() -> FastAPI:
        settings = Settings(
            home=root / "home", now=NOW, secret_key="browser-secret", guard=False,
            understand="keywords",
        )  # fmt: skip
        runtime = box["rt"] = await Runtime.open(settings, llm=ScriptedLLM())
        await runtime.import_shop(write_bundle(root / "bundle"))
        await _seed(runtime)
        return create_app(settings, runtime=runtime)

    async def cleanup() -> None:
        if "rt" in box:
            await box["rt"].close()

    with Served(make, cleanup) as served:
        yield served.url + "/console"


@dataclass
class Console:
    driver: WebDriver
    base: str
    shots: Path
    test: str

    def visit(self, path: str, name: str) -> None:
        self.driver.get(self.base + path)
        self.settled(name)

    def settled(self, name: str) -> None:
        """The page as it stands: its screenshot saved, and every field named by a label."""
        WebDriverWait(self.driver, WAIT).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        self.driver.save_screenshot(str(self.shots / f"{self.test}-{name}.png"))
        assert_fields_are_labelled(self.driver)

    def text(self, css: str) -> str:
        return self.driver.find_element(By.CSS_SELECTOR, css).text

    def field(self, label: str) -> WebElement:
        """The form field a visible <label> with this text is for."""
        found = self.driver.find_element(By.XPATH, f"//label[normalize-space()='{label}']")
        return self.driver.find_element(By.ID, found.get_attribute("for") or "")

    def sign_in(self, name: str, password: str) -> None:
        self.visit("/login", "login")
        self.field("账号").send_keys(name)
        self.field("密码").send_keys(password)
        self.driver.find_element(By.XPATH, "//button[normalize-space()='登录']").click()


@pytest.fixture
def console(
    browser: WebDriver, base_url: str, shots: Path, request: pytest.FixtureRequest
) -> Console:
    """A signed-out browser (no cookies: no session, Chinese) on the served console."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    test = re.sub(r"^test_", "", request.node.name)
    return Console(browser, base_url, shots, test)


def _kpi(c: Console, key: str) -> str:
    return c.text(f'#kpis tr[data-key="{key}"] td')


def test_signing_in_lands_on_the_dashboard_with_the_periods_kpis(console: Console) -> None:
    console.sign_in("boss", PASSWORD)
    WebDriverWait(console.driver, WAIT).until(EC.url_to_be(console.base + "/mini/"))
    console.settled("dashboard")
    assert console.text("h1") == "数据看板"
    assert _kpi(console, "conversations") == EXPECTED_CONVERSATIONS
    assert _kpi(console, "taobao_3min_response_rate") == EXPECTED_TAOBAO_3MIN
    assert _kpi(console, "handoff_rate") == EXPECTED_HANDOFF_RATE
    assert console.text("header").count("boss (owner)") == 1


def test_wrong_password_shows_an_error_and_keeps_the_name(console: Console) -> None:
    console.sign_in("li", "wrong-password")
    WebDriverWait(console.driver, WAIT).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]"))
    )
    console.settled("wrong-password")
    assert console.text("[role=alert]") == "账号或密码错误"
    assert console.field("账号").get_attribute("value") == "li"
    assert console.driver.current_url == console.base + "/login"
    assert not console.driver.get_cookie("xiaoer_console")


def test_pages_show_the_shops_conversations_queue_and_settings(console: Console) -> None:
    console.sign_in("boss", PASSWORD)
    WebDriverWait(console.driver, WAIT).until(EC.url_to_be(console.base + "/mini/"))
    console.settled("dashboard")

    console.driver.find_element(By.LINK_TEXT, "会话").click()
    WebDriverWait(console.driver, WAIT).until(EC.url_contains("/mini/conversations"))
    console.settled("conversations")
    rows = console.driver.find_elements(By.CSS_SELECTOR, "#conversations tbody tr")
    assert sorted(r.get_attribute("data-id") for r in rows) == sorted(c.id for c in CHATS)
    b1 = console.text('#conversations tr[data-id="b1"]')
    assert "U1" in b1 and "100 积分抵 1 元" in b1  # the last message

    console.driver.find_element(By.CSS_SELECTOR, '#conversations tr[data-id="b2"] a').click()
    WebDriverWait(console.driver, WAIT).until(EC.url_contains("/mini/conversations/b2"))
    console.settled("transcript-b2")
    said = [m.text for m in console.driver.find_elements(By.CSS_SELECTOR, "article.msg p")]
    assert said == ["发票怎么开", "下单时填写抬头即可"]

    console.visit("/mini/queue", "queue")
    row = console.text("#queue tbody tr")
    assert "顾客要求" in row and "我要找人工客服" in row and "U4" in row and "O9" in row
    assert console.text("#queue tbody tr td:nth-child(3)") == "180"  # 11:00 → the clock's 14:00

    console.visit("/mini/settings", "settings")
    assert console.text("h1") == "设置"
    main = console.text("main")
    assert "迷你运动店" in main and "boss" in main and "li" in main
    assert "/widget.js" in console.text("#widget-snippet")

    console.visit("/mini/policy", "policy")
    assert console.text("h1") == "店铺策略" and console.text("#versions tbody tr").startswith("v1")
    console.visit("/mini/inspection?since=2026-11-20&until=2026-11-20", "inspection")
    assert console.text("h1") == "质检"
    assert console.text('#rates tr[data-key="unanswered"] td') == EXPECTED_UNANSWERED_RATE


def test_the_english_switch_turns_the_pages_to_english(console: Console) -> None:
    console.sign_in("boss", PASSWORD)
    WebDriverWait(console.driver, WAIT).until(EC.url_to_be(console.base + "/mini/"))
    console.driver.find_element(By.LINK_TEXT, "English").click()
    WebDriverWait(console.driver, WAIT).until(EC.url_contains("lang=en"))
    console.settled("dashboard-en")
    assert console.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert console.text("h1") == "Dashboard"
    assert console.text('#kpis tr[data-key="taobao_3min_response_rate"] th') == (
        "Taobao 3-min response rate"
    )
    assert _kpi(console, "taobao_3min_response_rate") == EXPECTED_TAOBAO_3MIN
    console.visit("/mini/queue", "queue-en")  # the choice is remembered
    assert console.text("h1") == "Handoff queue"
    assert console.driver.find_element(By.LINK_TEXT, "中文").is_displayed()


def test_tab_from_the_top_of_the_login_page_reaches_name_password_then_submit(
    console: Console,
) -> None:
    console.visit("/login", "login-keyboard")
    # start from the top of the page, as a keyboard user arriving there (not from autofocus)
    console.driver.execute_script("document.activeElement.blur()")
    webdriver.ActionChains(console.driver).move_to_element_with_offset(
        console.driver.find_element(By.TAG_NAME, "h1"), 0, 0
    ).click().perform()
    assert console.driver.switch_to.active_element.tag_name == "body"

    def tab() -> WebElement:
        webdriver.ActionChains(console.driver).send_keys(Keys.TAB).perform()
        return console.driver.switch_to.active_element

    before = []  # what a keyboard user passes on the way to the form: the language link
    while (here := tab()).get_attribute("id") != "name":
        before.append(here.get_attribute("outerHTML"))
        assert len(before) < 5, f"Tab did not reach the name field: {before}"
    assert all(html.startswith("<a ") for html in before), before
    assert here == console.field("账号")
    assert tab() == console.field("密码")
    submit = tab()
    assert (submit.tag_name, submit.get_attribute("type"), submit.text) == (
        "button",
        "submit",
        "登录",
    )


def test_the_owner_imports_a_document_and_sees_its_progress_then_the_result(
    console: Console, tmp_path: Path
) -> None:
    doc = tmp_path / "保养指南.md"
    doc.write_text("# 保养指南\n\n鞋面用软毛刷蘸清水轻刷，阴干，不要机洗。\n", encoding="utf-8")
    console.sign_in("boss", PASSWORD)
    WebDriverWait(console.driver, WAIT).until(EC.url_to_be(console.base + "/mini/"))
    console.visit("/mini/knowledge", "knowledge")
    console.field("文件（Markdown、HTML、TXT、DOCX 或 PDF，最大 5 MB）").send_keys(str(doc))
    console.driver.find_element(By.XPATH, "//form[@enctype]//button").click()
    WebDriverWait(console.driver, WAIT).until(
        EC.presence_of_element_located((By.ID, "import-done"))
    )
    console.settled("knowledge-import")
    assert console.text("#import-done") == "导入完成：保养指南.md：1 段（新增）"
    # only the latest step shows: the progress lines before it are hidden
    steps = console.driver.find_elements(By.CSS_SELECTOR, ".steps .step")
    assert len(steps) >= 2 and [s.is_displayed() for s in steps][-1]
    assert not any(s.is_displayed() for s in steps[:-1])
    console.driver.find_element(By.LINK_TEXT, "返回知识库").click()
    console.field("试问：顾客会怎么问？").send_keys("鞋子怎么保养")
    console.driver.find_element(By.XPATH, "//button[normalize-space()='查找']").click()
    WebDriverWait(console.driver, WAIT).until(EC.url_contains("ask="))
    console.settled("knowledge-import-found")
    assert "不要机洗" in console.text("#found")
