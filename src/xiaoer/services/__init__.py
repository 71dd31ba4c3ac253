"""Services: the operations the interfaces share (issue 18, Polar's shape, `STYLE.md` §2).

The API, the CLI and (later) the console call a service; a service reads and writes through
the repositories (`xiaoer.store`) and the domain types, and never commits: the caller (one
request, one command) owns the session and its unit of work. `lint-imports` keeps the layer
below `api`, `cli` and `runtime`, and above `inbox`, `agent` and everything they use.

- `kpis`: the figures a merchant is judged by (platform service KPIs and our own), per period
  and per day.
"""
