"""Demo data: two realistic Chinese shops (步履不停 stride, 伏特 volt) as shop bundles."""

from xiaoer.demo.generate import write_demo_bundles

__all__ = ["write_demo_bundles"]
