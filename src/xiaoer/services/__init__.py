"""Services: the operations the interfaces share (issue 18, Polar's shape, `STYLE.md` §2).

The API, the CLI and the console call a service; a service reads and writes through
the repositories (`xiaoer.store`) and the domain types, and never commits: the caller (one
request, one command) owns the session and its unit of work. `lint-imports` keeps the layer
below `api`, `cli` and `runtime`, and above `inbox`, `agent` and everything they use.

- `kpis`: the figures a merchant is judged by (platform service KPIs and our own), per period
  and per day.
- `accounts`: console accounts (scrypt password hashes, roles, shops) and the login throttle.
- `conversations`: the console's conversation list (search, handoff and outcome filters), a
  transcript with tool calls, guard verdicts, citations and actions, and the handoff queue.
- `shops`: shop names and the read-only settings overview.
- `knowledge`: the chat-mined candidates waiting for review (with their source chat) and the
  merchant's facts with their expiry, as the console's knowledge page shows them.
"""
