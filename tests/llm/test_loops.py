"""A reply that loops is cut where the first repeated sentence starts (llm/loops.py)."""

from __future__ import annotations

from xiaoer.llm.loops import cut_repeats, ends_sentence, repeat_start

LOOP = (
    "您的包裹到了甲营业点，正在运输中。您的包裹到了乙中转场，正在运输中。"
    + ("您的包裹到了乙中转场，正在运输中。" * 11)
    + "您的包裹到了乙"
)


def test_a_looping_reply_keeps_what_it_said_once() -> None:
    assert (
        cut_repeats(LOOP) == "您的包裹到了甲营业点，正在运输中。您的包裹到了乙中转场，正在运输中。"
    )
    assert repeat_start(LOOP) == len(
        "您的包裹到了甲营业点，正在运输中。您的包裹到了乙中转场，正在运输中。"
    )


def test_only_complete_sentences_closed_by_a_stop_count() -> None:
    # the sentence being written is not compared until it ends
    assert repeat_start("好的，马上查。好的，马上") is None
    # a list's lines may repeat under two entries: they are kept
    listing = "两个订单：\n订单一\n数量：1\n订单二\n数量：1\n"
    assert cut_repeats(listing) == listing
    # the same words with other punctuation are the same sentence
    assert cut_repeats("已为您催促仓库！已为您催促仓库。还有别的吗？") == "已为您催促仓库！"
    assert cut_repeats("一句。两句。") == "一句。两句。"


def test_a_piece_that_closes_a_sentence_is_noticed() -> None:
    assert ends_sentence("中。您") and ends_sentence("\n") and not ends_sentence("运输中")
