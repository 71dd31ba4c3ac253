"""Catalog of the 步履不停 sports shop: shoes with size charts, apparel, socks, custom items."""

from __future__ import annotations

import random
from typing import Any

from xiaoer.demo.common import Dim, numbered, pairs, skus_from_dims, table

BRAND = "步履"
CUSTOM_NOTE = "定制款不退不换（质量问题除外），付款后5-7个工作日发货"

_COLORS = """
黑色=BLK 白色=WHT 灰色=GRY 深灰=DGY 蓝色=BLU 藏青=NVY 天蓝=SKY 红色=RED 酒红=WIN 绿色=GRN
军绿=OLV 粉色=PNK 米白=CRM 卡其=KHK 橙色=ORG 紫色=PUR 荧光黄=YLW 黑白=BKW 白绿=WGN 白蓝=WBL
黑红=BKR 燕麦色=OAT 雾霾蓝=HZB 薄荷绿=MNT
"""
COLOR_CODES = dict(item.split("=") for item in _COLORS.split())

SHOE_SIZES = {"男": range(39, 46), "女": range(35, 41), "中性": range(36, 45), "童": range(33, 40)}

# title | category | gender | price ¥ | colours | 尺码偏差 | 鞋面 / 内里 / 鞋底 | scenes | tags |
# size-42 stock rule (in: some 42 in stock, out: 42 sold out, -: random) | weight | pitch
_SHOES = """
疾风 3 男子缓震跑鞋 | 跑鞋 | 男 | 299 | 黑色 白色 蓝色 | 偏小半码 | 工程网布 / 透气网布 / EVA+橡胶 | 日常慢跑 路跑 健身房 | 缓震 透气 | in | 30 | 全掌 EVA 缓震中底，前掌加厚橡胶耐磨，日常 5-10 公里慢跑很舒服
疾风 3 女子缓震跑鞋 | 跑鞋 | 女 | 299 | 白色 粉色 薄荷绿 | 偏小半码 | 工程网布 / 透气网布 / EVA+橡胶 | 日常慢跑 健走 | 缓震 透气 | - | 22 | 女款专属楦型，鞋身轻盈，单只约 235 克
领跑 2 入门跑鞋 | 跑鞋 | 男 | 199 | 黑色 灰色 藏青 | 标准 | 飞织鞋面 / 织物 / MD+橡胶 | 日常慢跑 通勤 学生体测 | 入门 轻便 | in | 26 | 一体飞织鞋面，穿脱方便，性价比之选
云跃 2 缓震慢跑鞋 | 跑鞋 | 中性 | 279 | 黑白 燕麦色 雾霾蓝 | 偏大半码 | 双层网布 / 透气网布 / 超临界发泡+橡胶 | 日常慢跑 长距离 健走 | 缓震 中性 | in | 20 | 超临界发泡中底，回弹好、脚感软，适合体重偏大的跑者
城市轻跑 男子休闲跑鞋 | 跑鞋 | 男 | 229 | 黑色 白色 | 标准 | 针织网面 / 织物 / EVA | 通勤 日常慢跑 旅行 | 轻便 百搭 | in | 14 | 跑鞋的脚感、休闲鞋的外观，上班也能穿
飞驰 网面透气跑鞋 | 跑鞋 | 男 | 239 | 黑色 白蓝 | 偏小半码 | 三明治网布 / 网布 / EVA+橡胶 | 日常慢跑 夏季训练 | 透气 | out | 12 | 大网孔透气设计，夏天跑步不闷脚
疾风 2 经典款跑鞋 | 跑鞋 | 男 | 259 | 黑红 灰色 | 偏小半码 | 工程网布 / 网布 / EVA+橡胶 | 日常慢跑 | 经典款 清仓 | out | 10 | 上一代经典款，断码清仓，数量有限
夜跑者 反光跑鞋 | 跑鞋 | 男 | 329 | 黑色 荧光黄 | 标准 | 反光网布 / 透气网布 / EVA+橡胶 | 夜跑 日常慢跑 | 反光 缓震 | in | 10 | 鞋面 3M 级反光条，夜跑更安全
云跃 轻量竞速跑鞋 | 跑鞋 | 男 | 459 | 白绿 橙色 | 标准 | 单层工程纱 / 无内里 / 超临界发泡+橡胶 | 间歇跑 5-10公里比赛 | 轻量 竞速 | in | 12 | 单只约 210 克，前掌 TPU 推进片，适合有一定基础的跑者提速
逐风 Pro 碳板竞速跑鞋 | 跑鞋 | 中性 | 899 | 白色 荧光黄 | 标准 | 单层工程纱 / 无内里 / PEBA发泡+全掌碳板 | 马拉松 半马比赛 | 碳板 竞速 | in | 9 | 全掌碳纤维板加 PEBA 超临界中底，为全马 PB 而生
山径 越野跑鞋 | 跑鞋 | 男 | 529 | 军绿 黑色 | 偏小半码 | 防撕裂网布 / 透气网布 / EVA+Vibram橡胶大底 | 越野跑 徒步 登山 | 越野 抓地 | in | 8 | 5mm 齿深大底，湿滑路面抓地稳，鞋头加防撞
轻羽 女子轻量跑鞋 | 跑鞋 | 女 | 269 | 白色 紫色 粉色 | 标准 | 飞织鞋面 / 织物 / EVA | 日常慢跑 健身房 健走 | 轻量 | - | 14 | 单只约 198 克，一脚蹬设计
疾风 3 定制刻字跑鞋 | 跑鞋 | 中性 | 369 | 白色 黑色 | 偏小半码 | 工程网布 / 透气网布 / EVA+橡胶 | 日常慢跑 礼物 | 定制款 不退不换 缓震 | - | 5 | 鞋舌可激光刻字（中英文/数字，最多 8 个字符），送人自用都合适
破晓 1 实战篮球鞋 | 篮球鞋 | 男 | 499 | 黑红 白色 | 标准 | TPU网布+合成革 / 织物 / 缓震科技中底+耐磨橡胶 | 室内篮球 室外篮球 | 实战 支撑 | - | 12 | 中帮设计护踝，后跟 TPU 稳定片，外场耐磨大底
天际 高帮篮球鞋 | 篮球鞋 | 男 | 399 | 白蓝 黑色 | 偏大半码 | 合成革 / 织物 / EVA+橡胶 | 室外篮球 日常穿搭 | 高帮 复古 | - | 10 | 高帮复古篮球鞋，球场街头两相宜
扣将 2 低帮篮球鞋 | 篮球鞋 | 男 | 349 | 黑色 红色 白绿 | 标准 | 针织鞋面 / 织物 / 缓震中底+橡胶 | 室内篮球 后卫突破 | 轻量 低帮 | - | 9 | 低帮轻量，启动快，适合后卫
少年队 青少年篮球鞋 | 篮球鞋 | 童 | 259 | 白蓝 黑红 | 标准 | 合成革+网布 / 织物 / EVA+橡胶 | 学校篮球课 日常 | 青少年 | - | 6 | 青少年专属楦型，鞋头加宽给脚趾留空间
破晓 1 定制配色篮球鞋 | 篮球鞋 | 男 | 599 | 白色 | 标准 | TPU网布+合成革 / 织物 / 缓震科技中底+耐磨橡胶 | 室内篮球 球队定制 | 定制款 不退不换 | - | 3 | 鞋身可定制球队配色和号码，后跟可印名字
城市漫步 复古德训鞋 | 休闲鞋 | 中性 | 259 | 米白 卡其 | 偏大半码 | 头层牛皮+麂皮 / 猪皮 / 生胶 | 日常穿搭 通勤 | 复古 百搭 | - | 14 | T 头德训经典款，生胶底防滑
经典小白鞋 板鞋 | 休闲鞋 | 中性 | 199 | 白色 白绿 | 标准 | 超纤皮 / 织物 / 橡胶 | 日常穿搭 校园 | 百搭 小白鞋 | - | 18 | 简约小白鞋，怎么搭都好看
帆布鞋 低帮款 | 休闲鞋 | 中性 | 129 | 黑色 白色 藏青 | 偏大半码 | 帆布 / 棉布 / 硫化橡胶 | 日常穿搭 校园 | 帆布 百搭 | - | 14 | 硫化工艺，经典低帮帆布鞋
厚底老爹鞋 | 休闲鞋 | 女 | 339 | 米白 燕麦色 | 偏小半码 | 网布+合成革 / 织物 / EVA厚底 | 日常穿搭 增高 | 老爹鞋 增高 | - | 9 | 内外增高约 5cm，显腿长
定制印花帆布鞋 | 休闲鞋 | 中性 | 169 | 白色 | 偏大半码 | 帆布 / 棉布 / 硫化橡胶 | 礼物 情侣款 班级定制 | 定制款 不退不换 | - | 4 | 上传照片或文字，鞋身 UV 印花，一双起订
力场 综合训练鞋 | 训练鞋 | 男 | 369 | 黑色 灰色 | 标准 | 耐磨网布 / 织物 / 稳定TPU+橡胶 | 力量训练 HIIT 跳绳 | 稳定 防侧翻 | - | 9 | 低落差平稳鞋底，深蹲硬拉更稳，侧向有 TPU 包裹
燃训 女子室内健身鞋 | 训练鞋 | 女 | 289 | 粉色 黑色 白色 | 标准 | 飞织鞋面 / 织物 / EVA+橡胶 | 健身房 跳操 瑜伽 | 轻量 健身 | - | 10 | 前掌弯折灵活，跳操、单车课都合适
跳跃者 跳绳专用鞋 | 训练鞋 | 中性 | 239 | 白色 黑色 | 标准 | 网布 / 织物 / 高弹EVA+橡胶 | 跳绳 体测 | 缓震 跳绳 | - | 7 | 前掌加厚缓震垫，保护膝盖
"""

# title | category | gender | price ¥ | colours | 尺码偏差 | materials | scenes | tags | weight | pitch
_APPAREL = """
加绒连帽卫衣 男款 | 卫衣 | 男 | 199 | 黑色 灰色 藏青 | 标准 | 面料=针织加绒; 成分=棉65% 聚酯纤维35% | 日常 秋冬训练 | 加绒 保暖 | 14 | 内里磨毛加绒，秋冬单穿或内搭都行
圆领宽松卫衣 中性款 | 卫衣 | 中性 | 169 | 燕麦色 黑色 雾霾蓝 | 偏大一码 | 面料=毛圈针织; 成分=棉80% 聚酯纤维20% | 日常 情侣款 | 宽松 落肩 | 12 | 落肩宽松版型，想穿合身可拍小一码
女子短款连帽卫衣 | 卫衣 | 女 | 179 | 粉色 白色 紫色 | 标准 | 面料=毛圈针织; 成分=棉70% 聚酯纤维30% | 日常 健身房 | 短款 显高 | 10 | 短款设计露出腰线，配高腰裤显腿长
速干短袖T恤 男款 | T恤 | 男 | 79 | 黑色 白色 蓝色 荧光黄 | 标准 | 面料=冰丝速干面料; 成分=聚酯纤维88% 氨纶12% | 跑步 健身 户外 | 速干 透气 | 22 | 吸湿速干，跑 10 公里背后也不黏
纯棉运动T恤 中性款 | T恤 | 中性 | 99 | 白色 黑色 灰色 | 偏大一码 | 面料=精梳棉; 成分=棉100% | 日常 轻度运动 | 纯棉 宽松 | 16 | 230g 重磅精梳棉，不透不易变形
女子瑜伽短袖 | T恤 | 女 | 89 | 粉色 黑色 薄荷绿 | 偏小一码 | 面料=裸感针织; 成分=锦纶75% 氨纶25% | 瑜伽 普拉提 健身 | 修身 弹力 | 10 | 修身裸感面料，弹力好，胸围较大建议拍大一码
跑团定制速干T恤 | T恤 | 中性 | 69 | 白色 荧光黄 | 标准 | 面料=冰丝速干面料; 成分=聚酯纤维100% | 跑团活动 马拉松 团建 | 定制款 不退不换 速干 | 4 | 胸前/背后可印跑团 logo、名字，10 件起享团购价
定制篮球服套装 印名字号码 | 球衣 | 中性 | 129 | 白色 黑色 红色 蓝色 | 偏大一码 | 面料=网眼速干面料; 成分=聚酯纤维100% | 球队比赛 班级赛 团建 | 定制款 不退不换 | 5 | 球衣加球裤一套，可印队名、名字、号码，烫画工艺不掉色
针织束脚运动裤 男款 | 运动裤 | 男 | 159 | 黑色 深灰 | 标准 | 面料=针织; 成分=棉60% 聚酯纤维40% | 日常 跑步 健身 | 束脚 休闲 | 14 | 束脚版型显腿直，侧边拉链口袋放手机不掉
速干跑步短裤 男款 | 运动裤 | 男 | 89 | 黑色 藏青 | 标准 | 面料=梭织速干; 成分=聚酯纤维90% 氨纶10% | 跑步 健身 夏季 | 速干 内衬 | 12 | 内置防走光内衬，后腰拉链袋
加绒保暖运动裤 | 运动裤 | 中性 | 189 | 黑色 灰色 | 标准 | 面料=摇粒绒内里; 成分=聚酯纤维85% 氨纶15% | 冬季晨跑 日常 | 加绒 保暖 | 10 | 零下 5 度晨跑也不冷
女子高腰瑜伽裤 | 运动裤 | 女 | 139 | 黑色 雾霾蓝 酒红 | 偏小一码 | 面料=裸感针织; 成分=锦纶78% 氨纶22% | 瑜伽 健身 跑步 | 高腰 收腹 | 14 | 高腰收腹不卷边，深蹲不透
轻薄立领羽绒服 男款 | 羽绒服 | 男 | 399 | 黑色 藏青 军绿 | 标准 | 面料=防泼水锦纶; 填充物=90%白鸭绒; 充绒量=M码约90g | 秋冬通勤 旅行 | 轻薄 可收纳 | 10 | 轻薄可收纳进随附小包，出差旅行方便
连帽加厚羽绒服 中性款 | 羽绒服 | 中性 | 699 | 黑色 米白 橙色 | 偏大一码 | 面料=防泼水锦纶; 填充物=90%白鹅绒; 充绒量=L码约220g; 蓬松度=650+ | 冬季户外 北方通勤 | 加厚 鹅绒 | 9 | 650+ 蓬松度鹅绒，北方冬天也扛得住
女子长款过膝羽绒服 | 羽绒服 | 女 | 899 | 黑色 米白 卡其 | 标准 | 面料=防泼水锦纶; 填充物=90%白鸭绒; 充绒量=M码约260g | 冬季通勤 北方 | 长款 过膝 | 7 | 过膝长款，双向拉链，坐下也方便
"""

# title | price ¥ | colours | pairs per pack | weight | pitch
_SOCKS = """
专业跑步袜 3双装 | 39 | 黑色 白色 | 3 | 18 | 足弓加压、脚底毛圈缓震，防磨脚
加厚毛巾底篮球袜 2双装 | 29 | 白色 黑色 | 2 | 12 | 全毛巾底加厚，长筒护踝
隐形船袜 5双装 | 49 | 白色 黑色 灰色 | 5 | 14 | 硅胶防掉跟，夏天配板鞋
"""

_TOP = {
    "男": [("S", "160-165", "88-92", "50-57"), ("M", "165-170", "92-96", "57-65"),
          ("L", "170-175", "96-100", "65-72"), ("XL", "175-180", "100-106", "72-80"),
          ("XXL", "180-185", "106-112", "80-90")],
    "女": [("S", "150-155", "78-82", "40-45"), ("M", "155-160", "82-86", "45-50"),
          ("L", "160-165", "86-90", "50-56"), ("XL", "165-170", "90-94", "56-62"),
          ("XXL", "170-175", "94-98", "62-70")],
}  # fmt: skip
_WAIST = {"男": ["68-72", "72-76", "76-80", "80-86", "86-92"],
          "女": ["62-66", "66-70", "70-74", "74-78", "78-82"]}  # fmt: skip

_BIAS_ADVICE = {
    "偏小半码": "建议拍大一码（本款没有半码）",
    "偏大半码": "建议拍正常码，脚瘦可以拍小一码",
    "标准": "按平时尺码拍即可",
    "偏大一码": "版型宽松，想穿合身可拍小一码",
    "偏小一码": "版型修身，建议拍大一码",
}
_GENDER_TAG = {"男": "男款", "女": "女款", "中性": "男女同款", "童": "青少年款"}


def shoe_chart(sizes: range) -> dict[str, dict[str, str]]:
    """码数 -> 脚长 (Chinese standard: foot length mm = (size + 10) × 5)."""
    chart = {}
    for size in sizes:
        mm = (size + 10) * 5
        chart[str(size)] = {"脚长": f"{mm // 10}.{mm % 10}cm"}
    return chart


def apparel_chart(gender: str, bottoms: bool) -> dict[str, dict[str, str]]:
    """S…XXL -> 身高 / 胸围(或腰围) / 体重."""
    rows = _TOP["女" if gender == "女" else "男"]
    waists = _WAIST["女" if gender == "女" else "男"]
    chart = {}
    for (size, height, chest, weight), waist in zip(rows, waists, strict=True):
        girth = {"腰围": f"{waist}cm"} if bottoms else {"胸围": f"{chest}cm"}
        chart[size] = {"身高": f"{height}cm", **girth, "体重": f"{weight}kg"}
    return chart


def _fill_stock(rng: random.Random, skus: list[dict[str, Any]], rule42: str, custom: bool) -> None:
    """Random stock with realistic gaps; honour the size-42 rule; custom items are made to order."""
    for i, sku in enumerate(skus):
        if custom:
            sku["stock"] = 200
            continue
        size = sku["options"].get("尺码", "")
        top = 45 if size in ("41", "42", "43") else 25
        sku["stock"] = 0 if rng.random() < 0.1 else rng.randint(2, top)
        if size == "42" and rule42 == "out":
            sku["stock"] = 0
        if size == "42" and rule42 == "in" and i < len(skus) // 2:
            sku["stock"] = max(sku["stock"], rng.randint(6, 30))


def _color_dim(colors: list[str]) -> Dim:
    return ("颜色", [(c, COLOR_CODES[c], 0) for c in colors])


def _product(
    pid: str,
    title: str,
    cat: str,
    desc: str,
    tags: list[str],
    attrs: dict[str, Any],
    skus: list[dict[str, Any]],
) -> dict[str, Any]:
    custom = "定制款" in tags
    if custom:
        what = "名字/号码/队名" if cat in ("T恤", "球衣") else "定制内容"
        attrs["定制说明"] = f"下单时在备注填写{what}，客服确认效果图后制作；" + CUSTOM_NOTE
        desc += CUSTOM_NOTE + "。"
    return {
        "id": pid,
        "title": title,
        "category": cat,
        "brand": BRAND,
        "description": desc,
        "tags": tags,
        "attributes": attrs,
        "skus": skus,
    }


def _shoe(rng: random.Random, pid: str, row: list[str]) -> dict[str, Any]:
    title, cat, gender, price, colors, bias, mats, scenes, tags, rule42, _, pitch = row
    upper, lining, sole = (m.strip() for m in mats.split("/"))
    sizes = SHOE_SIZES[gender]
    dims = [_color_dim(colors.split()), ("尺码", [(str(s), str(s), 0) for s in sizes])]
    skus = skus_from_dims(pid, int(price) * 100, dims)
    _fill_stock(rng, skus, rule42, "定制款" in tags.split())
    attrs: dict[str, Any] = {
        "鞋面材质": upper, "内里材质": lining, "鞋底材质": sole, "尺码偏差": bias,
        "尺码表": shoe_chart(sizes), "适用场景": scenes.split(), "颜色": colors.split(),
        "适用人群": _GENDER_TAG[gender],
    }  # fmt: skip
    desc = f"{title}：{pitch}。鞋面{upper}，鞋底{sole}。尺码{bias}，{_BIAS_ADVICE[bias]}。"
    return _product(pid, title, cat, desc, [_GENDER_TAG[gender], *tags.split()], attrs, skus)


def _apparel(rng: random.Random, pid: str, row: list[str]) -> dict[str, Any]:
    title, cat, gender, price, colors, bias, mats, scenes, tags, _, pitch = row
    materials = pairs(mats)
    chart = apparel_chart(gender, cat == "运动裤")
    plus = 2000 if int(price) >= 399 else 0  # XXL down jackets cost ¥20 more
    dims = [_color_dim(colors.split()),
            ("尺码", [(s, s, plus if s == "XXL" else 0) for s in chart])]  # fmt: skip
    skus = skus_from_dims(pid, int(price) * 100, dims)
    _fill_stock(rng, skus, "", "定制款" in tags.split())
    attrs: dict[str, Any] = {
        **materials, "尺码偏差": bias, "尺码表": chart, "适用场景": scenes.split(),
        "颜色": colors.split(), "适用人群": _GENDER_TAG[gender],
    }  # fmt: skip
    fabric = materials.get("成分") or materials.get("填充物")
    desc = f"{title}：{pitch}。{fabric}。{_BIAS_ADVICE[bias]}。"
    return _product(pid, title, cat, desc, [_GENDER_TAG[gender], *tags.split()], attrs, skus)


def _socks(rng: random.Random, pid: str, row: list[str]) -> dict[str, Any]:
    title, price, colors, pack, _, pitch = row
    dims = [_color_dim(colors.split()), ("尺码", [("M(35-39)", "M", 0), ("L(40-45)", "L", 0)])]
    skus = skus_from_dims(pid, int(price) * 100, dims)
    _fill_stock(rng, skus, "", False)
    attrs = {
        "成分": "棉75% 锦纶20% 氨纶5%", "规格": f"{pack}双装", "颜色": colors.split(),
        "尺码表": {"M(35-39)": {"鞋码": "35-39"}, "L(40-45)": {"鞋码": "40-45"}},
        "尺码偏差": "标准", "适用场景": ["跑步", "训练", "日常"],
    }  # fmt: skip
    desc = f"{title}：{pitch}。袜子属贴身衣物，拆封后不支持7天无理由退换（质量问题除外）。"
    return _product(pid, title, "袜子", desc, ["男女同款", "贴身衣物"], attrs, skus)


def build_products(rng: random.Random) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """All stride products (P0001…) and their popularity weights."""
    makers = ([(_shoe, r, 10) for r in table(_SHOES)] + [(_apparel, r, 9) for r in table(_APPAREL)]
              + [(_socks, r, 4) for r in table(_SOCKS)])  # fmt: skip
    return numbered(rng, makers)
