"""An in-memory after-sales ledger, shared by the commerce backends that keep no store of their
own (the unit-test fake, the τ-retail world)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from xiaoer.domain.models import Change, ServiceRecord


class MemoryLedger:
    def __init__(self) -> None:
        self.records: dict[str, ServiceRecord] = {}

    def _record(self, change: Change, status: str, detail: dict[str, Any]) -> ServiceRecord:
        """Keep the record of an applied change under its idempotency key."""
        record = ServiceRecord(
            len(self.records) + 1, change.key, change.kind, change.shopper_id, change.order_id,
            change.amount_fen, status, detail, datetime.now(UTC),
        )  # fmt: skip
        self.records[change.key] = record
        return record

    async def find_record(self, key: str) -> ServiceRecord | None:
        return self.records.get(key)

    async def records_for(
        self, shopper_id: str, *, order_id: str | None = None, kind: str | None = None
    ) -> list[ServiceRecord]:
        return [
            r
            for r in self.records.values()
            if r.shopper_id == shopper_id
            and (order_id is None or r.order_id == order_id)
            and (kind is None or r.kind == kind)
        ]
