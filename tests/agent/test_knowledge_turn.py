"""The turn looks questions up in the shop's knowledge before the model's first step, and the
reply's citations name the snippets it drew on."""

from __future__ import annotations

from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import ConversationRepository


async def test_policy_question_gets_knowledge_and_citations(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [say("支持七天无理由退货，定制款除外。")]
    result = await runtime.assistant().turn("mini", "U1", "你们支持七天无理由退货吗")
    assert [c.name for c in result.tool_calls] == ["search_knowledge"]
    prompt = llm.calls[0][0]
    assert [m.role for m in prompt][-3:] == ["user", "assistant", "tool"]
    assert "[1]" in prompt[-1].content and "定制款除外" in prompt[-1].content
    assert result.llm_calls == 1
    ids = [c["source_id"] for c in result.citations]
    assert "faq:F1" in ids and all(c["kind"] in ("faq", "doc") for c in result.citations)
    async with runtime.sessions() as s:
        rows = await ConversationRepository(s, "mini").messages(result.conversation_id)
    assert [c["source_id"] for c in rows[-1].meta["citations"]] == ids


async def test_a_search_for_what_was_shown_is_answered_with_it(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    """Seen on the tuned suite: shown the shop's entries on the question, the model searched
    for the same question again — a step and a second copy of the entries in the prompt."""
    question = "你们支持七天无理由退货吗"
    llm.steps = [call("search_knowledge", query=question), say("支持，定制款除外。")]
    result = await runtime.assistant().turn("mini", "U1", question)
    assert [c.name for c in result.tool_calls] == ["search_knowledge"]  # the prefetch alone
    messages, mode = llm.calls[1]
    assert mode == "text" and sum("定制款除外" in m.content for m in messages) == 1
    assert result.reply == "支持，定制款除外。"


async def test_unrelated_reply_cites_nothing(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [say("这个我不确定，帮您转人工客服。")]
    result = await runtime.assistant().turn("mini", "U1", "你们支持七天无理由退货吗")
    assert result.tool_calls and result.citations == []


async def test_order_messages_are_not_prefetched(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [call("track_logistics", order_id="SO1001"), say("在杭州。"), say("明天到。")]
    first = await runtime.assistant().turn("mini", "U1", "SO1001 到哪了")
    assert [c.name for c in first.tool_calls] == ["track_logistics"]
    mine = await runtime.assistant().turn("mini", "U1", "我买的鞋子怎么还没到")
    assert "search_knowledge" not in [c.name for c in mine.tool_calls]


async def test_model_can_search_knowledge_itself(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [call("search_knowledge", query="七天无理由"), say("支持，定制款除外。")]
    result = await runtime.assistant().turn("mini", "U1", "SO1001 这单能七天无理由吗")
    assert [c.name for c in result.tool_calls] == ["search_knowledge"]
    assert "faq:F1" in [c["source_id"] for c in result.citations]


async def test_a_named_product_keeps_other_products_out(runtime: Runtime, llm: ScriptedLLM) -> None:
    """疾风's "鞋面材质：工程网布" is the closest passage, but the question names 云跃."""
    llm.steps = [call("search_knowledge", query="云跃 Pro 鞋面什么材质"), say("资料里没写。")]
    result = await runtime.assistant().turn("mini", "U1", "SO1001 云跃 Pro 鞋面什么材质")
    seen = result.tool_calls[0].result
    assert "云跃 Pro 碳板竞速跑鞋" in seen and "工程网布" not in seen and "疾风" not in seen
    assert await runtime.knowledge().product_named("mini", "跑鞋的鞋面是什么") is None
    assert await runtime.knowledge().product_named("mini", "疾风 3 男子缓震跑鞋") == "P1"


async def test_not_in_the_knowledge_is_an_answer_after_a_search(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    """After the prefetched search, "暂无相关信息" is backed by it: no forced lookup."""
    llm.steps = [say("抱歉，暂无相关信息，可以帮您转人工客服确认。")]
    result = await runtime.assistant().turn("mini", "U1", "七天无理由退货可以寄到付吗")
    assert [c.name for c in result.tool_calls] == ["search_knowledge"]
    assert [mode for _, mode in llm.calls] == ["auto"] and not result.fallback


async def test_an_empty_first_reply_is_asked_again_under_the_answer_note(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    """Seen on the embedded model: nothing written with the snippets shown, and the fallback
    listed snippets that did not answer. Once more, as a text answer, before falling back."""
    llm.steps = [say(""), say("资料里没有写能不能寄到付，我请同事确认一下。")]
    result = await runtime.assistant().turn("mini", "U1", "七天无理由退货可以寄到付吗")
    assert [mode for _, mode in llm.calls] == ["auto", "text"]
    assert "顾客的问题：七天无理由退货可以寄到付吗" in llm.calls[1][0][-1].content
    assert result.reply.startswith("资料里没有写") and not result.fallback
    llm.steps, llm.calls = [say(""), say("")], []
    again = await runtime.assistant().turn("mini", "U1", "七天无理由退货可以寄到付吗")
    assert [mode for _, mode in llm.calls] == ["auto", "text"] and again.fallback


async def test_an_order_number_nobody_gave_is_not_looked_up_after_a_relevant_search(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    """Seen on the embedded model: the answer was in the snippets, and it called
    track_logistics("1234567890"). The call is dropped and the model answers from them."""
    llm.steps = [call("track_logistics", order_id="1234567890"), say("支持，定制款除外。")]
    result = await runtime.assistant().turn("mini", "U1", "你们支持七天无理由退货吗")
    assert [c.name for c in result.tool_calls] == ["search_knowledge"]
    assert [mode for _, mode in llm.calls] == ["auto", "text"]
    assert "顾客的问题：你们支持七天无理由退货吗" in llm.calls[1][0][-1].content
    assert result.reply == "支持，定制款除外。" and not result.fallback


def test_snippets_far_below_the_best_are_not_shown() -> None:
    from xiaoer.knowledge import Hit, Passage
    from xiaoer.tools.knowledge import shown

    def hit(i: str, cosine: float, bm25: float) -> Hit:
        return Hit(Passage(i, "s", "doc", "t", "x"), 0.0, bm25, cosine)

    # the end-to-end case: pick-up hours first, a TV spec fourth with no shared word
    hits = [hit("hours", 0.926, 55.2), hit("rules", 0.869, 21.5), hit("tv", 0.871, 0.0)]
    assert [h.passage.id for h in shown(hits)] == ["hours"]
    close = [hit("a", 0.90, 9.0), hit("b", 0.88, 3.0), hit("c", 0.895, 0.0)]
    assert [h.passage.id for h in shown(close)] == ["a", "b", "c"]
    bm25_only = [hit("a", 0.0, 9.0), hit("b", 0.0, 3.0)]  # no embedder: nothing to compare
    assert [h.passage.id for h in shown(bm25_only)] == ["a", "b"]


async def test_an_order_number_nobody_gave_becomes_a_knowledge_search(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    """Seen on the embedded model: "Where is your Shanghai store?" answered with the shopper's
    orders after `track_logistics("1234567890")`. A question about the shop is searched for
    instead; one about the shopper's own orders still gets the lookup."""
    llm.steps = [call("track_logistics", order_id="1234567890"), say("资料里没有写上海门店。")]
    result = await runtime.assistant().turn("mini", "U1", "Where is your Shanghai store?")
    assert [c.name for c in result.tool_calls][-1] == "search_knowledge"
    assert "track_logistics" not in [c.name for c in result.tool_calls]
    assert [mode for _, mode in llm.calls] == ["auto", "text"]
    assert result.reply == "资料里没有写上海门店。"
