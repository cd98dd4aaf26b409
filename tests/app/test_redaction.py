"""Personal data is masked in comments before they are stored (survey.services.redaction)."""

from __future__ import annotations

import pytest

from survey.services.redaction import mask_personal_data, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # mobile numbers, every common way of writing them
        ("电话13812345678", "电话[电话]"),
        ("电话 138 1234 5678。", "电话 [电话]。"),
        ("138-1234-5678", "[电话]"),
        ("+86 138 1234 5678", "[电话]"),
        ("+8613812345678", "[电话]"),
        ("0086-13812345678", "[电话]"),
        ("86 13812345678", "[电话]"),
        ("手机：１３８１２３４５６７８，谢谢", "手机：[电话]，谢谢"),
        ("打19912345678或15012345678", "打[电话]或[电话]"),
        # landlines with area code
        ("0571-88889999", "[电话]"),
        ("座机 010 1234 5678", "座机 [电话]"),
        ("(0755)12345678", "[电话]"),
        ("拨打0571 8888 9999转", "拨打[电话]转"),
        # ID-card numbers
        ("身份证110101199003074518", "身份证[身份证号]"),
        ("证号 11010119900307451X。", "证号 [身份证号]。"),
        ("11010119900307451x", "[身份证号]"),
        ("老证 110101900307451", "老证 [身份证号]"),
        # e-mail
        ("邮箱 zhang.san+1@example.com.cn 联系", "邮箱 [邮箱] 联系"),
        # bank cards and other long numbers
        ("卡号6222 0212 3456 7890 123", "卡号[号码]"),
        ("账号 6222021234567890", "账号 [号码]"),
        # names after common patterns
        ("窗口的李女士很耐心", "窗口的某女士很耐心"),
        ("张先生和王师傅", "某先生和某师傅"),
        ("欧阳女士", "某女士"),
        ("王小姐态度好", "某小姐态度好"),
        ("我叫王小明，住东湖区", "我叫某某某，住东湖区"),
        ("姓名：李四", "姓名：某某"),
        ("本人赵刚反映", "本人某某反映"),
    ],
)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask_personal_data(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "这位先生态度很好",
        "那个女士帮了我",
        "请拨打12345热线",
        "2024年办了3次，等了45分钟",
        "我是群众，我是本地人",
        "我是来办营业执照的",
        "收费 1280 元，编号 A-2024-0012",
        "局长很重视",
        "窗口 5 号",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert not result.changed


def test_counts_say_what_was_masked() -> None:
    result = redact("张先生 13812345678 / 0571-88889999, a@b.cn, 110101199003074518")
    assert result.masked["mobile"] == 1
    assert result.masked["landline"] == 1
    assert result.masked["email"] == 1
    assert result.masked["id_number"] == 1
    assert result.masked["name"] == 1
    assert "13812345678" not in result.text and "110101" not in result.text


def test_long_comment_is_masked_throughout() -> None:
    text = "意见：13812345678。" * 2000
    masked = mask_personal_data(text)
    assert "138" not in masked and masked.count("[电话]") == 2000
