"""The shop's knowledge: documents, catalog facts, FAQ, chat-mined answers and merchant facts,
searched by hybrid retrieval (BM25 + embeddings, RRF) with a citation for every snippet."""

from xiaoer.knowledge.base import Citation, IngestReport, KnowledgeBase, cite
from xiaoer.knowledge.index import Hit, Passage

__all__ = ["Citation", "Hit", "IngestReport", "KnowledgeBase", "Passage", "cite"]
