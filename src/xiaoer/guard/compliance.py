"""Claims a shop's reply must not make on its own: absolute advertising words (广告法),
medical or efficacy claims, promises beyond policy, and disparaging other sellers.

Each is allowed when the merchant's own words (tool results, knowledge — not the shopper's)
say it the same way — a catalog that sells a "100%棉" shirt, a policy that really offers 假一赔三 —
because then the reply only repeats the merchant; and when the reply denies it ("不能退双倍").
"""

from __future__ import annotations

import re

from xiaoer.guard.claims import Claim

BANNED: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "absolute",
        re.compile(
            r"最好的(?:产品|商品|选择|品质|质量|品牌)|最佳(?:产品|选择|品质|品牌)|最强|全网最低|史上最"
            r"|(?:排名|销量|全网|行业|全国|世界)第一|第一品牌|国家级|世界级|顶级|100\s?%|百分之百"
            r"|绝对(?:正品|有效|安全|不会|没问题)|万能|永不(?:损坏|褪色|变形)"
        ),
    ),
    (
        "medical",
        re.compile(r"治疗|治愈|疗效|根治|药效|防癌|抗癌|降血压|降血糖|消炎|医疗级|包治"),
    ),
    (
        "over_promise",
        re.compile(
            r"(?:赔偿|补偿|赔您|赔给您)\s?\d+|双倍|假一赔|包赔"
            r"|保证.{0,6}(?:送达|到货|收到|到账)|一定(?:能|会).{0,6}(?:送达|到货|收到|到账)"
            r"|(?:给您|为您)(?:免单|免费换新)"
        ),
    ),
    (
        "competitor",
        re.compile(
            r"(?:京东|淘宝|天猫|拼多多|苏宁|抖音|别家|其他(?:店|家|商家)|友商|同行)"
            r".{0,10}(?:差|垃圾|假货|骗|坑|不靠谱|山寨|水货|翻新)"
        ),
    ),
)


NEGATED = re.compile(
    r"(?:不|无法|不能|没有|没|不会|不可以|并非|并不|不支持|不提供|不存在|禁止)[^，。,.!！？?]{0,6}$"
)


def banned_claims(reply: str, merchant_says: str) -> list[Claim]:
    """Banned phrases in `reply` that are neither denied there nor the merchant's own words."""
    out: list[Claim] = []
    for kind, pattern in BANNED:
        for m in pattern.finditer(reply):
            if m.group(0) in merchant_says or NEGATED.search(
                reply[max(0, m.start() - 8) : m.start()]
            ):
                continue
            out.append(Claim(kind, m.group(0)))
    return list(dict.fromkeys(out))
