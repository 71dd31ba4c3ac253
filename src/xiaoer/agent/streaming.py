"""A reply streamed sentence by sentence under the output guard.

With the guard on, a reply used to be sent only whole, once it had passed: on the embedded
model the shopper saw nothing for the whole answer step. Now each sentence of the answer is
sent as soon as it is complete and has passed the checks that need no model call (`rules`,
`compliance`, `leak`, `echo`, the markup check), and no statement in it would go to the judge.
The first sentence that does not pass stops the stream; the rest waits for the whole reply's
check, exactly as before.

The whole reply is still checked as before, and it is what the turn stores and the `done` event
carries. When it does not continue what was streamed (a later sentence failed and the reply was
rewritten, or it was handed over), a delta with `reset` replaces what is on screen.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from xiaoer.agent.events import Emit, TextDelta
from xiaoer.llm.loops import repeat_start

_log = logging.getLogger(__name__)

SENTENCE_END = re.compile(r"[。！？!?；;\n]+|\.(?=\s)")
"""Where a sentence ends: Chinese and Latin stops, a line break (not the point of ¥49.90)."""

type Check = Callable[[str], Awaitable[bool]]


class GuardedStream:
    """Takes a reply's pieces as the model writes them; sends each completed sentence that
    `check` passes, in order, and nothing after the first that it does not."""

    def __init__(self, check: Check, emit: Emit) -> None:
        self.check = check
        self.emit = emit
        self.sent = ""
        """What the shopper has been sent so far."""
        self.buffer = ""
        self.stopped = False

    def restart(self) -> None:
        """A new model call: its text starts afresh. After a sentence was sent, a second
        answer is not streamed (the first one's sentences are on screen already)."""
        self.buffer = ""
        if self.sent:
            self.stopped = True

    async def feed(self, piece: str) -> None:
        if self.stopped:
            return
        self.buffer += piece
        while (end := SENTENCE_END.search(self.buffer)) is not None:
            sentence = self.buffer[: end.end()]
            self.buffer = self.buffer[end.end() :]
            if not sentence.strip():
                continue
            if repeat_start(self.sent + sentence) is not None:
                self.stopped = True  # the model loops (`llm/loops.py`): the reply is cut here
                return
            try:
                passed = await self.check(sentence)
            except Exception:  # never fail the model's call over a check: just stop streaming
                _log.exception("checking a streamed sentence failed")
                passed = False
            if not passed:
                self.stopped = True
                return
            self.sent += sentence
            await self.emit(TextDelta(sentence))

    async def finish(self, reply: str) -> None:
        """Send the final reply's rest after what was streamed; or, when it does not continue
        it, the whole reply with `reset`."""
        if not self.sent:
            await self.emit(TextDelta(reply))
        elif reply.startswith(self.sent):
            if rest := reply[len(self.sent) :]:
                await self.emit(TextDelta(rest))
        else:
            await self.emit(TextDelta(reply, reset=True))
