"""Checks on what comes in and what goes out of a turn, each returning a verdict.

`input` looks at the shopper's message (injection, abuse, rate), `claims` and `compliance` at a
reply before it is sent, `judge` asks the LLM where rules cannot decide, `pii` redacts logs.
"""

from xiaoer.guard.claims import Claim, unsupported_claims
from xiaoer.guard.compliance import banned_claims
from xiaoer.guard.input import InputCheck, check_input
from xiaoer.guard.output import Evidence, OutputGuard, Verdict
from xiaoer.guard.pii import RedactingFilter, redact

__all__ = [
    "Claim",
    "Evidence",
    "InputCheck",
    "OutputGuard",
    "RedactingFilter",
    "Verdict",
    "banned_claims",
    "check_input",
    "redact",
    "unsupported_claims",
]
