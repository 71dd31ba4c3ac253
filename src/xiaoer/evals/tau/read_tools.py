"""The nine read-only τ-retail tools (they never change the db)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from xiaoer.evals.tau._base import ToolError, WorldBase, dump, tool

_CALC_CHARS = frozenset("0123456789+-*/(). ")
_BINOPS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def _evaluate(node: ast.AST) -> float:
    """Evaluate an arithmetic AST made only of numbers and + - * / (no eval())."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    raise ToolError("unsupported expression")


class ReadTools(WorldBase):
    """Lookups, calculator, scratchpad and hand-off."""

    @tool
    def find_user_id_by_email(self, email: str) -> str:
        """User id whose email matches (case-insensitive)."""
        wanted = email.strip().lower()
        for user_id, user in self.db["users"].items():
            if user["email"].lower() == wanted:
                return user_id
        raise ToolError("user not found")

    @tool
    def find_user_id_by_name_zip(self, first_name: str, last_name: str, zip: str) -> str:
        """User id by first/last name (case-insensitive) and default-address zip."""
        first, last, code = first_name.strip().lower(), last_name.strip().lower(), zip.strip()
        for user_id, user in self.db["users"].items():
            name = user["name"]
            if (
                name["first_name"].lower() == first
                and name["last_name"].lower() == last
                and user["address"]["zip"] == code
            ):
                return user_id
        raise ToolError("user not found")

    @tool
    def get_user_details(self, user_id: str) -> str:
        """JSON of the user record."""
        return dump(self._user(user_id))

    @tool
    def get_order_details(self, order_id: str) -> str:
        """JSON of the order record."""
        return dump(self._order(order_id))

    @tool
    def get_product_details(self, product_id: str) -> str:
        """JSON of the product record with all variants."""
        return dump(self._product(product_id))

    @tool
    def list_all_product_types(self) -> str:
        """JSON `{product name: product_id}` for every product, sorted by name."""
        types = {p["name"]: pid for pid, p in self.db["products"].items()}
        return dump(dict(sorted(types.items())))

    @tool
    def calculate(self, expression: str) -> str:
        """Arithmetic result rounded to 2 decimals (digits, + - * / ( ) . and spaces)."""
        if not expression.strip() or not set(expression) <= _CALC_CHARS:
            raise ToolError("invalid characters in expression")
        try:
            tree = ast.parse(expression, mode="eval")
            value = _evaluate(tree)
        except SyntaxError as exc:
            raise ToolError("invalid expression") from exc
        except ZeroDivisionError as exc:
            raise ToolError("division by zero") from exc
        except (RecursionError, MemoryError, OverflowError) as exc:
            raise ToolError("expression too large") from exc
        if not math.isfinite(value):
            raise ToolError("result is not a finite number")
        return str(round(value, 2) + 0.0)

    @tool
    def think(self, thought: str) -> str:
        """Scratchpad: no effect, returns an empty string."""
        return ""

    @tool
    def transfer_to_human_agents(self, summary: str) -> str:
        """Hand the user to a human; ends the episode."""
        self.transferred = True
        return "Transfer successful"
