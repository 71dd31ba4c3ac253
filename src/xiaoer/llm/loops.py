"""A reply that says a sentence again, word for word, is cut where the repeat starts.

Greedy decoding on a small model can fall into a loop: seen in the README demo, "您的快递到…，
最新进度是运输中。" thirteen times, 606 output tokens and 41 s for one question. Nothing a
shopper needs is said twice in one reply, so the backends stop decoding at the first sentence
that repeats an earlier one and return the text before it.

Only sentences closed by a stop (。！？；) count: a list's lines may well repeat ("数量：1" under
two orders), and a list that loops is bounded by the call's token limit instead.
"""

from __future__ import annotations

import re

_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;\n]*")
_ENDS = frozenset("。！？!?；;\n")
_STOPS = frozenset("。！？!?；;")
_TRIM = " \t\r\n。！？!?；;，,"


def ends_sentence(piece: str) -> bool:
    """Whether a piece of streamed text closes a sentence (worth looking for a repeat)."""
    return any(ch in _ENDS for ch in piece)


def repeat_start(text: str) -> int | None:
    """Where the first complete sentence that says an earlier one again starts, or None."""
    seen: set[str] = set()
    for match in _SENTENCE.finditer(text):
        if match.group()[-1] not in _ENDS:
            break  # the sentence being written: not complete yet
        if not _STOPS.intersection(match.group()):
            continue  # a line of a list
        said = match.group().strip(_TRIM)
        if not said:
            continue
        if said in seen:
            return match.start()
        seen.add(said)
    return None


def cut_repeats(text: str) -> str:
    """The text up to its first repeated sentence."""
    start = repeat_start(text)
    return text if start is None else text[:start].rstrip()
