"""The human workbench and the knowledge review in a real browser: an agent takes a handed-over
conversation from the queue, replies, whispers to the AI and gives it back; the owner approves a
mined FAQ and the bot's next answer is looked up in it. The model is scripted (unit tests only);
the served app, database, knowledge index and browser are real."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from browser_fixture import WAIT, Served, assert_fields_are_labelled, sign_in
from console_fixture import NOW, PASSWORD
from minishop import write_bundle
from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, say
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service
from xiaoer.store.models import KnowledgeCandidateRow

QUESTION = "周末发货吗"
ANSWER = "周六周日也发货，下午4点前付款当天发出"


@dataclass
class Shop:
    url: str
    key: str
    llm: ScriptedLLM

    def shopper(self, shopper_id: str = "U1") -> dict[str, str]:
        minted = httpx.post(f"{self.url}/v1/shopper-tokens", json={"shopper_id": shopper_id},
                            headers={"Authorization": f"Bearer {self.key}"})  # fmt: skip
        return {"Authorization": f"Bearer {minted.json()['token']}"}

    def say(self, auth: dict[str, str], conversation: str, text: str) -> dict[str, object]:
        r = httpx.post(f"{self.url}/v1/conversations/{conversation}/messages",
                       json={"text": text}, headers=auth, timeout=WAIT)  # fmt: skip
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    root = tmp_path_factory.mktemp("workbench")
    llm = ScriptedLLM()
    box: dict[str, Runtime] = {}
    keys: list[str] = []

    async def make() -> FastAPI:
        settings = Settings(home=root / "home", now=NOW, secret_key="wb", guard=False,
                            understand="keywords")  # fmt: skip
        runtime = box["rt"] = await Runtime.open(settings, llm=llm)
        await runtime.import_shop(write_bundle(root / "bundle"))
        async with runtime.sessions() as s:
            await accounts_service.add(s, "boss", PASSWORD, "owner", ["mini"], runtime.clock())
            s.add(
                KnowledgeCandidateRow(
                    shop_id="mini", id="kw", source_id="chats:past.jsonl", question=QUESTION,
                    variants=[], answer=ANSWER, chat_ids=["C1"], score=0.9, flags=[],
                    status="pending", note="", created_at=NOW,
                )
            )  # fmt: skip
            await s.commit()
        keys.append(await issue_api_key(runtime.sessions, "mini"))
        return create_app(settings, runtime=runtime)

    async def cleanup() -> None:
        if "rt" in box:
            await box["rt"].close()

    with Served(make, cleanup) as served:
        yield Shop(served.url, keys[0], llm)


def _press(driver: WebDriver, label: str) -> None:
    driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']").click()


def test_an_agent_takes_over_whispers_and_gives_it_back(
    browser: WebDriver, shop: Shop, shots: Path
) -> None:
    auth = shop.shopper()
    cid = httpx.post(f"{shop.url}/v1/conversations", headers=auth).json()["conversation_id"]
    shop.llm.steps = [say("好的，这就为您转接人工客服。")]
    shop.say(auth, cid, "我要转人工")

    driver = browser
    sign_in(driver, shop.url, "boss", PASSWORD)
    driver.get(f"{shop.url}/console/mini/queue")
    assert "我要转人工" in driver.find_element(By.ID, "queue").text
    driver.save_screenshot(str(shots / "workbench-1-queue.png"))
    driver.get(f"{shop.url}/console/mini/conversations/{cid}")
    _press(driver, "接手")
    WebDriverWait(driver, WAIT).until(EC.url_contains("done=taken"))
    assert_fields_are_labelled(driver)
    box = driver.find_element(By.ID, "reply-text")
    box.send_keys("您好，我是小李，您的问题我来处理")
    _press(driver, "发送")
    WebDriverWait(driver, WAIT).until(EC.url_contains("done=replied"))
    driver.find_element(By.ID, "whisper-text").send_keys("老顾客，语气客气些")
    _press(driver, "告诉 AI")
    WebDriverWait(driver, WAIT).until(EC.url_contains("done=whispered"))
    driver.save_screenshot(str(shots / "workbench-2-taken.png"))
    _press(driver, "交还AI")
    WebDriverWait(driver, WAIT).until(EC.url_contains("done=released"))
    page = driver.find_element(By.TAG_NAME, "main").text
    assert "已交还 AI" in page and "您好，我是小李，您的问题我来处理" in page
    driver.save_screenshot(str(shots / "workbench-3-released.png"))

    read = httpx.get(f"{shop.url}/v1/conversations/{cid}", headers=auth).json()
    said = [(m["role"], m["text"]) for m in read["messages"]]
    assert ("agent", "您好，我是小李，您的问题我来处理") in said
    assert all("老顾客" not in text for _, text in said)  # the whisper is the AI's only
    shop.llm.steps = [say("您好，还有什么可以帮您？")]
    after = shop.say(auth, cid, "好的，还有个问题")
    assert after["reply"] == "您好，还有什么可以帮您？"  # the AI answers again
    system = shop.llm.calls[-1][0][0].content
    assert "老顾客，语气客气些" in system  # and follows the whisper


def test_the_owner_approves_a_mined_faq_and_the_bot_looks_it_up(
    browser: WebDriver, shop: Shop, shots: Path
) -> None:
    driver = browser
    driver.delete_all_cookies()
    sign_in(driver, shop.url, "boss", PASSWORD)
    driver.get(f"{shop.url}/console/mini/knowledge")
    card = driver.find_element(By.CSS_SELECTOR, 'article[data-id="kw"]')
    assert QUESTION in card.text and ANSWER in card.text
    driver.save_screenshot(str(shots / "knowledge-1-candidate.png"))
    card.find_element(By.XPATH, ".//button[normalize-space()='批准']").click()
    WebDriverWait(driver, WAIT).until(EC.url_contains("done=kn_approved"))
    assert not driver.find_elements(By.CSS_SELECTOR, 'article[data-id="kw"]')
    driver.save_screenshot(str(shots / "knowledge-2-approved.png"))

    auth = shop.shopper("U2")
    cid = httpx.post(f"{shop.url}/v1/conversations", headers=auth).json()["conversation_id"]
    shop.llm.steps = [say("周末也发货的，下午4点前付款当天发出。")]
    answer = shop.say(auth, cid, QUESTION)
    looked = [c for c in answer["tool_calls"] if c["name"] == "search_knowledge"]  # type: ignore[union-attr]
    assert looked and ANSWER in looked[0]["result"]
    assert any(ANSWER in m.content for m in shop.llm.calls[-1][0])  # what the model was shown
