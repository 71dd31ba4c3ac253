"""Which product a shopper's text names: `NamedProducts`, prepared once per catalogue, against
the matching written out plainly (every title's words taken apart again for each question)."""

from __future__ import annotations

import random
import re

from xiaoer.knowledge.index import ProductName
from xiaoer.knowledge.mining import NamedProducts, mentioned_product

CATALOGUE = [
    ProductName("P1", "疾风 3 男子缓震跑鞋"),
    ProductName("P2", "疾风 3 女子缓震跑鞋"),
    ProductName("P3", "星河 X60 Pro 5G手机"),
    ProductName("P4", "星河 X60 5G手机"),
    ProductName("P5", "Aurora Q9 Mini LED"),
]


def _plainly(text: str, products: list[ProductName]) -> str | None:
    compact = re.sub(r"\s+", "", text).lower()
    for p in sorted(products, key=lambda p: -len(p.title)):
        if re.sub(r"\s+", "", p.title).lower() in compact:
            return p.id
    words: dict[str, set[str]] = {}
    for p in products:
        parts = [w for w in re.split(r"[\s·/]+", p.title) if w]
        pairs = {a + b for a, b in zip(parts, parts[1:], strict=False)}
        han = [run for part in parts for run in re.findall(r"[\u3400-\u9fff]+", part)]
        pieces = {run[i : i + n] for run in han for n in (2, 3, 4) for i in range(len(run) - n + 1)}
        words[p.id] = {w for w in parts if len(w) >= 2} | pairs | pieces
    count: dict[str, int] = {}
    for ws in words.values():
        for w in ws:
            count[w] = count.get(w, 0) + 1
    best: tuple[int, str] | None = None
    for pid, ws in words.items():
        n = sum(1 for w in ws if count[w] == 1 and w.lower() in compact)
        if n and (best is None or n > best[0]):
            best = (n, pid)
    return best[1] if best else None


def test_a_whole_title_or_distinctive_words_name_one_product() -> None:
    named = NamedProducts(CATALOGUE)
    assert named.find("疾风3女子缓震跑鞋 38 码有货吗") == "P2"  # the whole title, spaces aside
    assert named.find("星河 X60 Pro 5G手机 多少钱") == "P3"  # the longer title first
    assert named.find("x60pro 能用国补吗") == "P3"  # two words only it has, any case
    assert named.find("aurora 的尺寸") == "P5"
    assert named.find("疾风 3 跑鞋怎么样") is None  # words both shoes share name neither
    assert named.find("你们几点发货") is None
    assert mentioned_product("Q9 Mini 亮度", CATALOGUE) == "P5"


TEA = [
    ProductName("T1", "明前西湖龙井特级250g"),
    ProductName("T2", "云南古树普洱熟茶饼357g"),
    ProductName("T3", "福鼎白茶白毫银针100g"),
    ProductName("T4", "福鼎白茶寿眉饼350g"),
]


def test_a_part_of_a_chinese_title_written_without_spaces_names_its_product() -> None:
    named = NamedProducts(TEA)
    assert named.find("龙井500g礼盒有货吗？") == "T1"
    assert named.find("普洱茶饼多少钱一饼") == "T2"
    assert named.find("银针什么时候有货") == "T3"
    assert named.find("寿眉怎么泡") == "T4"
    assert named.find("福鼎白茶哪款好") is None  # a part both white teas have names neither
    assert named.find("茶叶怎么保存") is None
    assert mentioned_product("白毫银针的保质期", TEA) == "T3"


def test_the_prepared_matching_agrees_with_the_plain_one() -> None:
    rng = random.Random(5)
    words = [
        "疾风",
        "云跃",
        "3",
        "Pro",
        "X60",
        "男子",
        "女子",
        "缓震",
        "跑鞋",
        "手机",
        "Mini",
        "号",
    ]
    products = [
        ProductName(f"G{i}", " ".join(rng.sample(words, rng.randint(2, 4)))) for i in range(300)
    ]
    products += [ProductName("U1", "云跃 Ultra 跑鞋"), ProductName("U2", "疾风 ULTRA 手机")]
    # titles written without spaces: named by the pieces of their runs of Chinese characters
    products += [ProductName(f"H{i}", "".join(rng.sample(words, 4))) for i in range(20)]
    named = NamedProducts(products)
    # "Ultra" and "ULTRA" are each one product's word, and name both once case is set aside
    assert named.find("ultra 多少钱") == _plainly("ultra 多少钱", products) == "U1"
    for n in range(600):
        text = "".join(rng.sample(words, rng.randint(1, 5))) + rng.choice(["有货吗", " 多少钱", ""])
        if n % 6 == 0:  # long: scanned rather than looked up by its pieces
            text = "".join(rng.choice(words) for _ in range(400))
        assert named.find(text) == _plainly(text, products), text
        few = products[:8]
        assert NamedProducts(few).find(text) == _plainly(text, few), text
