"""Cardinal numbers as Modern Standard Arabic words (masculine, nominative)."""

from __future__ import annotations

_UNITS = ["صفر", "واحد", "اثنان", "ثلاثة", "أربعة", "خمسة", "ستة", "سبعة", "ثمانية", "تسعة"]
_TEENS = {
    10: "عشرة", 11: "أحد عشر", 12: "اثنا عشر", 13: "ثلاثة عشر", 14: "أربعة عشر",
    15: "خمسة عشر", 16: "ستة عشر", 17: "سبعة عشر", 18: "ثمانية عشر", 19: "تسعة عشر",
}  # fmt: skip
_TENS = ["", "", "عشرون", "ثلاثون", "أربعون", "خمسون", "ستون", "سبعون", "ثمانون", "تسعون"]
_HUNDREDS = ["", "مئة", "مئتان", "ثلاثمئة", "أربعمئة", "خمسمئة", "ستمئة", "سبعمئة",
             "ثمانمئة", "تسعمئة"]  # fmt: skip
# (value, singular, dual, plural 3..10)
_SCALES = [
    (1_000_000_000, "مليار", "ملياران", "مليارات"),
    (1_000_000, "مليون", "مليونان", "ملايين"),
    (1_000, "ألف", "ألفان", "آلاف"),
]


def _below_thousand(n: int) -> str:
    parts: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        parts.append(_HUNDREDS[hundreds])
    if rest >= 20:
        tens, unit = divmod(rest, 10)
        parts.append(f"{_UNITS[unit]} و{_TENS[tens]}" if unit else _TENS[tens])
    elif rest >= 10:
        parts.append(_TEENS[rest])
    elif rest:
        parts.append(_UNITS[rest])
    return " و".join(parts)


LARGEST = 10**12
"""From here on a number is read digit by digit (phone numbers, ids)."""


def arabic_number_words(n: int) -> str:
    """`25` -> `خمسة وعشرون`; `2026` -> `ألفان وستة وعشرون`."""
    if n == 0:
        return _UNITS[0]
    if n < 0:
        return "سالب " + arabic_number_words(-n)
    if n >= LARGEST:
        return " ".join(_UNITS[int(digit)] for digit in str(n))
    parts: list[str] = []
    for value, one, two, plural in _SCALES:
        count, n = divmod(n, value)
        if count == 1:
            parts.append(one)
        elif count == 2:
            parts.append(two)
        elif 3 <= count <= 10:
            parts.append(f"{_below_thousand(count)} {plural}")
        elif count > 10:
            parts.append(f"{_below_thousand(count)} {one}")
    if n:
        parts.append(_below_thousand(n))
    return " و".join(parts)
