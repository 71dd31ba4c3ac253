"""`xiaoer inbox …` as a human agent uses it, on a conversation a shopper handed over."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from minishop import write_bundle
from xiaoer.cli import app
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, say
from xiaoer.runtime import Runtime

NOW = "2026-11-20T14:00:00+08:00"


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


async def _hand_over(home: Path, bundle: Path) -> str:
    settings = Settings(home=home, now=NOW, guard=False)  # type: ignore[arg-type]
    rt = await Runtime.open(settings, llm=ScriptedLLM(steps=[say("好的")]))
    try:
        await rt.import_shop(bundle)
        r = await rt.assistant().turn("mini", "U1", "我要找人工客服")
        return r.conversation_id
    finally:
        await rt.close()


def test_list_show_takeover_reply_whisper_release(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cid = asyncio.run(_hand_over(home, write_bundle(tmp_path / "b")))
    env = {"XIAOER_HOME": str(home), "XIAOER_NOW": NOW}
    code, text = run(env, "inbox", "list", "--shop", "mini", "--json")
    [row] = json.loads(text)
    assert code == 0 and row["conversation_id"] == cid and row["reason"] == "asked"
    code, text = run(env, "inbox", "takeover", cid, "--shop", "mini", "--agent", "小王")
    assert code == 0 and "小王 已接管" in text
    assert (
        run(env, "inbox", "reply", cid, "您好，我是小王", "--shop", "mini", "--agent", "小王")[0]
        == 0
    )
    assert run(env, "inbox", "whisper", cid, "送他一张券", "--shop", "mini")[0] == 0
    code, text = run(env, "inbox", "show", cid, "--shop", "mini")
    assert code == 0 and "人工(小王)" in text and "悄悄话" in text and "送他一张券" in text
    code, text = run(env, "inbox", "release", cid, "--shop", "mini")
    assert code == 0 and "已交回店小二" in text
    code, text = run(env, "inbox", "list", "--shop", "mini")
    assert code == 0 and "队列为空" in text


def test_bad_input_is_a_clear_message(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cid = asyncio.run(_hand_over(home, write_bundle(tmp_path / "b")))
    env = {"XIAOER_HOME": str(home), "XIAOER_NOW": NOW}
    code, text = run(env, "inbox", "takeover", "cv_nope", "--shop", "mini", "--agent", "小王")
    assert code == 1 and "cv_nope" in text
    code, text = run(env, "inbox", "takeover", cid, "--shop", "mini", "--agent", " ")
    assert code == 1 and "name the human agent" in text
    code, text = run(env, "inbox", "list", "--shop", "mini", "--status", "lost")
    assert code == 1 and "unknown status" in text
