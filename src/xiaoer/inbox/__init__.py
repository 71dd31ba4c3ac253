"""What humans do with conversations: the handoff queue, takeover, whispers, their own replies,
release back to the AI, approvals, and suggested replies (agent-assist)."""

from xiaoer.inbox.service import Inbox

__all__ = ["Inbox"]
