"""Bản tin: the newsletter service behind a city portal's "ĐĂNG KÝ NHẬN TIN" box."""

__version__ = "0.1.0"
