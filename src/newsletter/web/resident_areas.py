"""What the residents' pages say about areas (khu vực), in Vietnamese."""

from __future__ import annotations

from newsletter.subscribers.areas import AreaError


def unknown_areas_message(exc: AreaError) -> str:
    """The answer to a request naming areas that do not exist (the codes, shortened)."""
    codes = ", ".join(code[:64] for code in exc.codes[:5]) or "?"
    return (
        f"Không có khu vực với mã: {codes}. Vui lòng tải lại trang và chọn lại khu vực "
        "trong danh sách (hoặc không chọn khu vực nào để nhận mọi bản tin)."
    )
