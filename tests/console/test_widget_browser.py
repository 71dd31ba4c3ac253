"""The shopper widget in a real browser: on the demo product page a shopper asks for a return,
confirms it with the widget's button, reloads the page and finds the conversation as it was;
the merchant then sees the return in the console. The turn's model is scripted (unit tests
only); everything else — the served app, SSE, the database, the browser — is real."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.shadowroot import ShadowRoot
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from browser_fixture import WAIT, Served, assert_fields_are_labelled, sign_in
from console_fixture import NOW, PASSWORD
from minishop import ORDERS, write_bundle
from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service

ASK = "SO2001 我要退货，不想要了"


@dataclass
class Shop:
    url: str
    key: str  # the shop's API key
    llm: ScriptedLLM


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    root = tmp_path_factory.mktemp("widget")
    llm = ScriptedLLM()
    box: dict[str, Runtime] = {}
    keys: list[str] = []

    async def make() -> FastAPI:
        settings = Settings(
            home=root / "home", now=NOW, secret_key="widget-secret", guard=False,
            understand="keywords", demo_pages=True,
        )  # fmt: skip
        runtime = box["rt"] = await Runtime.open(settings, llm=llm)
        delivered = ORDERS[2] | {"delivered_at": (NOW - timedelta(days=2)).isoformat()}
        await runtime.import_shop(write_bundle(root / "bundle", orders=[*ORDERS[:2], delivered]))
        async with runtime.sessions() as s:
            await accounts_service.add(s, "boss", PASSWORD, "owner", ["mini"], runtime.clock())
            await s.commit()
        keys.append(await issue_api_key(runtime.sessions, "mini"))
        return create_app(settings, runtime=runtime)

    async def cleanup() -> None:
        if "rt" in box:
            await box["rt"].close()

    with Served(make, cleanup) as served:
        yield Shop(served.url, keys[0], llm)


def _widget(driver: WebDriver) -> ShadowRoot:
    host = WebDriverWait(driver, WAIT).until(
        EC.presence_of_element_located((By.ID, "xiaoer-widget"))
    )
    return host.shadow_root


def _said(root: ShadowRoot) -> list[tuple[str, str]]:
    return [
        (m.get_attribute("class").split()[-1], m.find_element(By.CSS_SELECTOR, "span").text)
        for m in root.find_elements(By.CSS_SELECTOR, ".msg")
    ]


def _until(driver: WebDriver, check: Callable[[], object], what: str) -> None:
    WebDriverWait(driver, WAIT).until(lambda _d: check(), message=f"waited for {what}")


def test_a_shopper_confirms_a_return_in_the_widget_and_the_merchant_sees_it(
    browser: WebDriver, shop: Shop, shots: Path
) -> None:
    driver = browser
    driver.get(f"{shop.url}/demo/mini?shopper=U2&product=P2")
    assert driver.find_element(By.TAG_NAME, "h1").text == "云跃 Pro 碳板竞速跑鞋"
    root = _widget(driver)
    bubble = root.find_element(By.CSS_SELECTOR, ".bubble")
    assert bubble.accessible_name == "联系客服" and bubble.get_attribute("aria-expanded") == "false"
    driver.save_screenshot(str(shots / "widget-1-product-page.png"))

    bubble.click()
    box = root.find_element(By.CSS_SELECTOR, "textarea")
    assert box.accessible_name == "输入消息"
    assert driver.execute_script("return arguments[0].labels.length", box) == 1
    assert root.find_element(By.CSS_SELECTOR, "[role=dialog]").is_displayed()

    shop.llm.steps = [call("request_return", order_id="SO2001", reason="不想要了")]
    box.send_keys(ASK, Keys.ENTER)
    _until(driver, lambda: root.find_elements(By.CSS_SELECTOR, ".actions button.yes"), "buttons")
    said = _said(root)
    assert said[0] == ("shopper", ASK)
    assert said[1][0] == "assistant" and "申请退货退款" in said[1][1] and "¥899" in said[1][1]
    driver.save_screenshot(str(shots / "widget-2-proposal.png"))

    root.find_element(By.CSS_SELECTOR, ".actions button.yes").click()
    _until(driver, lambda: len(_said(root)) == 4, "the confirmation's reply")
    assert "已提交" in root.find_element(By.CSS_SELECTOR, ".actions").text
    assert _said(root)[2] == ("shopper", "确认")  # the press, as the server keeps it
    assert _said(root)[3][0] == "assistant" and "退货申请已提交" in _said(root)[3][1]
    driver.save_screenshot(str(shots / "widget-3-confirmed.png"))

    # Answered: the shopper rates the conversation with the stars (each named for readers).
    stars = root.find_elements(By.CSS_SELECTOR, ".rate button")
    assert [s.accessible_name for s in stars][3] == "4 分：满意"
    stars[3].click()
    _until(driver, lambda: "感谢您的评价" in root.find_element(By.CSS_SELECTOR, ".status").text,
           "the rating's thanks")  # fmt: skip
    assert [s.get_attribute("aria-pressed") for s in stars] == ["false"] * 3 + ["true", "false"]
    driver.save_screenshot(str(shots / "widget-3b-rated.png"))

    # A reload reads the conversation back from the server: nothing lost, nothing twice.
    before = _said(root)
    driver.refresh()
    root = _widget(driver)
    root.find_element(By.CSS_SELECTOR, ".bubble").click()
    _until(driver, lambda: len(_said(root)) >= len(before), "the history after a reload")
    assert _said(root) == before
    assert not root.find_elements(By.CSS_SELECTOR, ".actions button")  # settled: no buttons
    _until(driver, lambda: root.find_elements(By.CSS_SELECTOR, ".rate button[aria-pressed=true]"),
           "the rating read back")  # fmt: skip
    driver.save_screenshot(str(shots / "widget-4-after-reload.png"))

    # The merchant sees it in the console: the rating in the satisfaction figure, the
    # conversation, the action executed.
    sign_in(driver, shop.url, "boss", PASSWORD)
    driver.get(f"{shop.url}/console/mini/")
    csat = driver.find_element(By.CSS_SELECTOR, "#kpis tr[data-key=csat]").text
    assert "满意率" in csat and "100" in csat and "1/1" in csat
    driver.get(f"{shop.url}/console/mini/conversations")
    row = driver.find_element(By.CSS_SELECTOR, "#conversations tbody tr")
    assert "U2" in row.text
    row.find_element(By.TAG_NAME, "a").click()
    WebDriverWait(driver, WAIT).until(EC.url_matches(r"/console/mini/conversations/.+"))
    assert_fields_are_labelled(driver)
    page = driver.find_element(By.TAG_NAME, "main").text
    assert ASK in page and "退货申请已提交" in page
    assert driver.find_element(By.ID, "rating").text == "顾客评价 4/5"
    assert re.search(r"request_return", page) and "executed" in page
    driver.save_screenshot(str(shots / "widget-5-console-transcript.png"))

    # Live: the shopper writes again while the merchant looks at the transcript; the page
    # redraws itself from the console's event stream, with no click.
    minted = httpx.post(f"{shop.url}/v1/shopper-tokens", json={"shopper_id": "U2"},
                        headers={"Authorization": f"Bearer {shop.key}"})  # fmt: skip
    shopper = {"Authorization": f"Bearer {minted.json()['token']}"}
    conversation = driver.current_url.rsplit("/", 1)[1]
    shop.llm.steps = [say("好的，这就为您转接人工客服。")]
    sent = httpx.post(f"{shop.url}/v1/conversations/{conversation}/messages",
                      json={"text": "我要转人工"}, headers=shopper, timeout=WAIT)  # fmt: skip
    assert sent.status_code == 200, sent.text
    # The redraw is a reload, which can replace <main> while the driver reads it (Chrome says
    # "stale element" or "node does not belong to the document") or unload the page under a
    # script: read the text in one script, null-safe, and look again on a driver error.
    main_text = "var m = document.querySelector('main'); return m ? m.innerText : '';"
    WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
        lambda d: "我要转人工" in d.execute_script(main_text),
        message="the transcript did not redraw from the event stream",
    )
    driver.save_screenshot(str(shots / "widget-6-console-live.png"))

    # The store holds one executed return, whatever the page did (a reload, a double click).
    listed = httpx.get(f"{shop.url}/v1/actions", headers={"Authorization": f"Bearer {shop.key}"})
    assert [(a["tool"], a["status"]) for a in listed.json()["actions"]] == [
        ("request_return", "executed")
    ]


def test_a_human_agents_reply_appears_in_the_widget_while_handed_over(
    browser: WebDriver, shop: Shop, shots: Path
) -> None:
    """Handed over, the widget listens on the conversation's live stream: the agent's reply
    shows up with no reload and no click — and after a reload, too."""
    driver = browser
    driver.get(f"{shop.url}/demo/mini?shopper=U1&product=P2")
    root = _widget(driver)
    root.find_element(By.CSS_SELECTOR, ".bubble").click()
    driver.execute_script(  # what the widget asks the server for from here on
        "window.asked = []; const f = window.fetch;"
        "window.fetch = (u, o) => { window.asked.push(String(u)); return f(u, o); };"
    )
    shop.llm.steps = [say("好的，这就为您转接人工客服。")]
    root.find_element(By.CSS_SELECTOR, "textarea").send_keys("我要转人工", Keys.ENTER)
    status = root.find_element(By.CSS_SELECTOR, ".status")
    _until(driver, lambda: "人工" in status.text, "the handed-over status")

    merchant = {"Authorization": f"Bearer {shop.key}"}
    queue = httpx.get(f"{shop.url}/v1/inbox", headers=merchant).json()["handoffs"]
    [conversation] = [h["conversation_id"] for h in queue if h["shopper_id"] == "U1"]
    reply = httpx.post(f"{shop.url}/v1/inbox/{conversation}/reply", headers=merchant,
                       json={"text": "您好，我是客服小王，这就帮您处理。", "agent": "小王"})  # fmt: skip
    assert reply.status_code == 201, reply.text
    _until(driver, lambda: ("agent", "您好，我是客服小王，这就帮您处理。") in _said(root),
           "the agent's reply on the live stream")  # fmt: skip
    assert [role for role, _ in _said(root)].count("agent") == 1
    asked = driver.execute_script("return window.asked")
    assert any(f"/v1/conversations/{conversation}/events?after=" in u for u in asked), asked
    assert not any(u.endswith(f"/v1/conversations/{conversation}") for u in asked), asked  # no poll
    driver.save_screenshot(str(shots / "widget-7-agent-reply-live.png"))

    # After a reload the widget reads that a person has the conversation, and listens again.
    driver.refresh()
    root = _widget(driver)
    root.find_element(By.CSS_SELECTOR, ".bubble").click()
    _until(driver, lambda: "人工" in root.find_element(By.CSS_SELECTOR, ".status").text,
           "the handed-over status after a reload")  # fmt: skip
    again = httpx.post(f"{shop.url}/v1/inbox/{conversation}/reply", headers=merchant,
                       json={"text": "退款已经为您登记好了。", "agent": "小王"})  # fmt: skip
    assert again.status_code == 201, again.text
    _until(driver, lambda: ("agent", "退款已经为您登记好了。") in _said(root),
           "the agent's second reply, after the reload")  # fmt: skip

    # The agent gives it back: the stream ends, the widget says so and stops listening.
    back = httpx.post(f"{shop.url}/v1/inbox/{conversation}/release", headers=merchant)
    assert back.status_code == 200, back.text
    _until(driver, lambda: "智能客服" in root.find_element(By.CSS_SELECTOR, ".status").text,
           "the back-with-the-AI status")  # fmt: skip
    driver.execute_script(
        "window.asked = []; const f = window.fetch;"
        "window.fetch = (u, o) => { window.asked.push(String(u)); return f(u, o); };"
    )
    time.sleep(2.5)  # longer than a reconnect's wait: nothing asks for the stream again
    asked = driver.execute_script("return window.asked") or []
    assert not any("/events" in u for u in asked), asked
