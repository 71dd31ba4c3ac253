"""`xiaoer kpi`: the figures as a table with Chinese labels and as JSON, and clear errors."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from minishop import write_bundle
from xiaoer.cli import app
from xiaoer.config import Settings
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import ConversationRepository

NOW = "2026-11-20T14:00:00+08:00"
SH = ZoneInfo("Asia/Shanghai")


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


async def _shop_with_chats(home: Path, bundle: Path) -> None:
    """Four conversations on 2026-11-20, first answers after 20, 100, 200 and 170 seconds."""
    rt = await Runtime.open(Settings(home=home, now=NOW, guard=False))  # type: ignore[arg-type]
    try:
        await rt.import_shop(bundle)
        async with rt.sessions() as s:
            repo = ConversationRepository(s, "mini")
            for n, wait in enumerate((20, 100, 200, 170)):
                asked = datetime(2026, 11, 20, 10 + n, 0, tzinfo=SH)
                answered = datetime(2026, 11, 20, 10 + n, wait // 60, wait % 60, tzinfo=SH)
                await repo.create(f"c{n}", "U1", "api", asked)
                q = await repo.add_message(f"c{n}", "shopper", "在吗", asked)
                await repo.add_message(f"c{n}", "assistant", "在的", answered, reply_to=q.id)
            await s.commit()
    finally:
        await rt.close()


def test_kpi_json_and_table(tmp_path: Path) -> None:
    home = tmp_path / "home"
    asyncio.run(_shop_with_chats(home, write_bundle(tmp_path / "b")))
    env = {"XIAOER_HOME": str(home), "XIAOER_NOW": NOW}
    code, text = run(env, "kpi", "--shop", "mini", "--since", "2026-11-20", "--json")
    assert code == 0, text
    data = json.loads(text)
    assert data["since"] == "2026-11-20T00:00:00+08:00"
    assert data["until"] == "2026-11-21T00:00:00+08:00"  # --until defaults to today, included
    tb = data["figures"]["taobao_3min_response_rate"]
    assert (tb["value"], tb["hits"], tb["total"]) == (0.75, 3, 4)  # 200 s is late
    assert data["figures"]["jd_30s_answer_rate"]["value"] == 0.25
    assert data["figures"]["avg_response_seconds"]["value"] == (20 + 100 + 200 + 170) / 4
    assert data["figures"]["csat"]["value"] is None and data["figures"]["csat"]["reason"]
    assert [d["day"] for d in data["daily"]] == ["2026-11-20"]

    code, text = run(env, "kpi", "--shop", "mini", "--since", "2026-11-19", "--until", "2026-11-20")
    assert code == 0, text
    assert "淘宝 3分钟响应率" in text and "75.0%" in text and "3/4" in text
    assert "京东 留言率" in text and "抖店 3分钟人工回复率" in text
    assert "2026-11-19" in text and "没有数据来源" in text


def test_kpi_errors_are_messages(tmp_path: Path) -> None:
    home = tmp_path / "home"
    asyncio.run(_shop_with_chats(home, write_bundle(tmp_path / "b")))
    env = {"XIAOER_HOME": str(home), "XIAOER_NOW": NOW}
    code, text = run(env, "kpi", "--shop", "nope")
    assert code == 1 and "'nope' not found" in text and "Traceback" not in text
    code, text = run(env, "kpi", "--shop", "mini", "--since", "20/11/2026")
    assert code == 1 and "not a date" in text and "Traceback" not in text
    code, text = run(env, "kpi", "--shop", "mini", "--since", "2026-11-21", "--until", "2026-11-20")
    assert code == 1 and "is after" in text
