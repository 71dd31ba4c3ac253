"""Option values as shoppers say them: the catalogue's own spelling, or its usual short form."""

from xiaoer.commerce.search import named_value


def test_the_catalogue_spelling_wins_and_stays_a_whole_token() -> None:
    assert named_value("42码还有吗", ["42", "43"]) == "42"
    assert named_value("420", ["42"]) is None
    assert named_value("白色的呢", ["白色", "黑色"]) == "白色"


def test_a_figure_with_a_short_unit_names_the_value() -> None:
    sizes = ["65英寸", "75英寸", "85英寸"]
    assert named_value("75 寸的有货吗", sizes) == "75英寸"
    assert named_value("75寸", sizes) == "75英寸"
    assert named_value("要 5斤的", ["5斤装", "10斤装"]) == "5斤装"
    assert named_value("175寸", sizes) is None  # another figure
    assert named_value("7.5寸", ["5英寸"]) is None


def test_a_colour_said_by_its_last_character() -> None:
    assert named_value("黑色有货吗", ["曜石黑", "远峰蓝"]) == "曜石黑"
    assert named_value("灰色", ["深空灰色", "银色"]) == "深空灰色"


def test_a_short_form_that_fits_two_values_names_neither() -> None:
    assert named_value("黑色有货吗", ["曜石黑", "磨砂黑", "远峰蓝"]) is None
    assert named_value("颜色有哪些", ["曜石黑", "远峰蓝"]) is None


def test_a_space_where_latin_meets_chinese_is_optional() -> None:
    assert named_value("黑色 NFC 版有货吗", ["NFC版", "标准版"]) == "NFC版"
    assert named_value("要NFC版的", ["NFC 版", "标准版"]) == "NFC 版"
    assert named_value("Pro Max", ["ProMax"]) is None  # Latin words stay apart
