"""Encodings as publishers send them: mislabelled Windows-1258 and UTF-8, legacy Asian pages."""

from __future__ import annotations

import unicodedata

import pytest

from newsletter.content.feed_encoding import decode_feed
from newsletter.content.parse import parse_feed
from tests.support.feedserver import rss, rss_item
from tests.test_feeds_hostile import to_windows_1258

# Titles as a city portal writes them: every tone, ă/â/ê/ô/ơ/ư/đ, capitals.
TITLES = [
    "Thành phố tổ chức lễ hội đường phố cuối tuần",
    "Ủy ban nhân dân phường thông báo lịch tiếp công dân",
    "Hướng dẫn đăng ký tạm trú trực tuyến",
    "Cắt điện khu vực quận Hải Châu ngày thứ bảy",
    "Khởi công xây dựng cầu vượt nút giao Ngã Ba Huế",
    "Học sinh được nghỉ học do ảnh hưởng của bão",
    "Triển lãm ảnh nghệ thuật về biển đảo quê hương",
    "Đường Nguyễn Văn Linh tạm cấm xe tải từ 6 giờ",
    "Kết quả tuyển sinh lớp mười năm học mới",
    "Tiêm chủng mở rộng cho trẻ dưới năm tuổi",
    "Giá xăng dầu giảm nhẹ trong kỳ điều chỉnh này",
    "Hội nghị tổng kết công tác cải cách hành chính",
    "Phát động phong trào xanh – sạch – đẹp khu dân cư",
    "Lịch thu gom rác thải nguy hại tháng mười hai",
    "Ổn định giá cả thị trường dịp Tết Nguyên đán",
    "Cảnh báo lừa đảo qua điện thoại mạo danh công an",
    "Nghiệm thu dự án chống ngập úng đường Ông Ích Khiêm",
    "Hỗ trợ hộ nghèo sửa chữa nhà ở trước mùa mưa",
    "Ngày hội việc làm dành cho thanh niên",
    "Thay đổi giờ làm việc của bộ phận một cửa",
    "Khuyến cáo người dân phòng chống sốt xuất huyết",
    "Giải chạy bộ vì cộng đồng thu hút nghìn người",
    "Công bố quy hoạch phân khu ven sông Hàn",
    "Tăng cường kiểm tra an toàn thực phẩm bếp ăn tập thể",
    "Ưu đãi học phí cho con em gia đình chính sách",
]


def feed(encoding_label: str) -> str:
    return rss(*(rss_item(n, title=t) for n, t in enumerate(TITLES, 1)), encoding=encoding_label)


def bare_feed(titles: list[str], label: str | None) -> str:
    """A minimal RSS 2.0 feed with only `titles` as text, declared `label` (or undeclared)."""
    declaration = f'<?xml version="1.0" encoding="{label}"?>' if label else '<?xml version="1.0"?>'
    items = "".join(
        f"<item><title>{t}</title><link>https://example.org/{n}</link></item>"
        for n, t in enumerate(titles, 1)
    )
    return f'{declaration}<rss version="2.0"><channel><title>x</title>{items}</channel></rss>'


def titles_of(body: bytes, content_type: str | None = None) -> list[str]:
    return [entry.title for entry in parse_feed(body, content_type=content_type).entries]


@pytest.mark.parametrize(
    ("xml_label", "content_type"),
    [
        ("ISO-8859-1", None),
        ("windows-1252", None),
        ("utf-8", "application/rss+xml; charset=ISO-8859-1"),
        ("utf-8", "text/xml; charset=windows-1252"),
        ("ISO-8859-1", "application/rss+xml; charset=ISO-8859-1"),
        ("windows-1258", "text/xml; charset=iso-8859-1"),
    ],
)
def test_windows_1258_labelled_latin1_is_read_as_vietnamese(
    xml_label: str, content_type: str | None
) -> None:
    """Windows-1258 bytes declared Latin-1/Windows-1252 (XML or HTTP) give all 25 titles right."""
    body = to_windows_1258(feed(xml_label))
    assert body.decode("cp1252") != feed(xml_label)  # mojibake if believed

    titles = titles_of(body, content_type)

    assert titles == TITLES
    assert all(unicodedata.is_normalized("NFC", t) for t in titles)


@pytest.mark.parametrize("content_type", [None, "text/xml; charset=ISO-8859-1"])
def test_utf8_labelled_latin1_is_read_as_utf8(content_type: str | None) -> None:
    """UTF-8 bytes under a Latin-1 label (XML or an Apache default header) are read as UTF-8."""
    assert titles_of(feed("ISO-8859-1").encode("utf-8"), content_type) == TITLES


@pytest.mark.parametrize("codec", ["utf-8", "utf-16", "utf-32", "utf-32-le", "utf-32-be"])
def test_unicode_encodings_are_read(codec: str) -> None:
    """UTF-8, UTF-16 and UTF-32 (with or without byte-order mark) give the titles right."""
    label = {"utf-32-le": "UCS-4", "utf-32-be": "ISO-10646-UCS-4"}.get(codec, codec)
    assert titles_of(feed(label).encode(codec)) == TITLES


def test_undeclared_windows_1258_is_read_as_vietnamese() -> None:
    """Windows-1258 bytes with no label anywhere are recognised as Vietnamese."""
    body = to_windows_1258(feed("utf-8")).replace(b' encoding="utf-8"', b"")
    assert titles_of(body) == TITLES


FOREIGN = [
    ("euc-kr", "서울시 새해 교통 정책 발표와 시민 의견 수렴 일정 안내"),
    ("gb2312", "市政府发布新年交通政策并征求市民意见的时间安排"),
    ("koi8-r", "Мэрия объявила новую транспортную политику на следующий год"),
    ("shift_jis", "市役所は来年の交通政策を発表し市民の意見を募集します"),
]


@pytest.mark.parametrize(("codec", "title"), FOREIGN)
def test_undeclared_asian_and_cyrillic_pages_are_not_vietnamese(codec: str, title: str) -> None:
    """Undeclared EUC-KR / GB2312 / KOI8-R / Shift_JIS are detected, not read as Windows-1258."""
    titles = [f"{title} {n}" for n in range(1, 6)]
    body = bare_feed(titles, None).encode(codec)

    text, encoding = decode_feed(body)

    assert encoding != "cp1258"
    assert titles_of(body) == titles
    assert title in text


@pytest.mark.parametrize(
    "title",
    [
        "Notícias de São Paulo: a previsão do tempo",
        "Résumé de la journée à Genève",
        "Straßenfest in München über das Wochenende",
        "Il sindaco è qui: così può cambiare la città",
    ],
)
def test_genuine_latin1_stays_latin1(title: str) -> None:
    """A real Latin-1 feed (Portuguese, French, German, Italian) is never turned Vietnamese."""
    assert titles_of(bare_feed([title], "ISO-8859-1").encode("latin-1")) == [title]
