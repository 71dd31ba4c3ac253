"""Merchant policy as data (YAML), and the rules that enforce it. Depends only on `domain`."""

from xiaoer.policy.load import default_policy, load_policy, parse_policy
from xiaoer.policy.schema import ShopPolicy
from xiaoer.policy.verdict import Verdict

__all__ = ["ShopPolicy", "Verdict", "default_policy", "load_policy", "parse_policy"]
