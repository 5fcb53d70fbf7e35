"""Legacy Vietnamese encodings met in office files: TCVN3 (ABC, .Vn fonts) and VNI-Windows, to Unicode.

Both are 8-bit encodings whose bytes are usually seen through Windows-1252, so text that went through
Excel or a CSV export appears as Latin-1 look-alikes ("Tæng sè hé" for "Tổng số hộ", "Xaõ" for "Xã").
`to_unicode` converts such text; `detect` picks the reading that yields the most Vietnamese.
TCVN3 has no precomposed capitals with tone marks (the .VnTimeH fonts draw the lower-case codes as
capitals), so converted TCVN3 text is lower-case where the source relied on such a font; names are
re-capitalised by geo.names.clean_name.
"""

from __future__ import annotations

import re
import unicodedata

# TCVN3 (TCVN 5712:1993, "ABC") code -> Unicode, in Windows-1252 reading.
_TCVN3 = dict(
    zip(
        "µ¸¶·¹¨»¾¼½Æ©ÇÊÈÉË®ÌÐÎÏÑªÒÕÓÔÖ×ÝØÜÞßãáâä«åèæçé¬êíëìîïóñòô\xadõøö÷ùúýûüþ¡¢§£¤¥¦",
        "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵĂÂĐÊÔƠƯ",
        strict=True,
    )
)

# VNI-Windows: a base letter followed by a mark byte (tone, or hat/breve/horn + tone), in Windows-1252.
_VNI_TONES = {
    "ù": "\u0301",
    "ø": "\u0300",
    "û": "\u0309",
    "õ": "\u0303",
    "ï": "\u0323",
    "Ù": "\u0301",
    "Ø": "\u0300",
    "Û": "\u0309",
    "Õ": "\u0303",
    "Ï": "\u0323",
}
_VNI_HAT_TONE = {
    "â": "",
    "á": "\u0301",
    "à": "\u0300",
    "å": "\u0309",
    "ã": "\u0303",
    "ä": "\u0323",
    "Â": "",
    "Á": "\u0301",
    "À": "\u0300",
    "Å": "\u0309",
    "Ã": "\u0303",
    "Ä": "\u0323",
}
_VNI_BREVE_TONE = {
    "ê": "",
    "é": "\u0301",
    "è": "\u0300",
    "ú": "\u0309",
    "ü": "\u0303",
    "ë": "\u0323",
    "Ê": "",
    "É": "\u0301",
    "È": "\u0300",
    "Ú": "\u0309",
    "Ü": "\u0303",
    "Ë": "\u0323",
}
_VNI_SINGLE = {
    "ñ": "đ",
    "Ñ": "Đ",
    "ô": "ơ",
    "Ô": "Ơ",
    "ö": "ư",
    "Ö": "Ư",
    "í": "í",
    "ì": "ì",
    "æ": "ỉ",
    "ó": "ĩ",
    "ò": "ị",
    "Í": "Í",
    "Ì": "Ì",
    "Æ": "Ỉ",
    "Ó": "Ĩ",
    "Ò": "Ị",
    "î": "ỵ",
    "Î": "Ỵ",
}


def _vni_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for base in "aeiouyAEIOUY":
        for mark, tone in _VNI_TONES.items():
            if base.isupper() == mark.isupper():
                table[base + mark] = unicodedata.normalize("NFC", base + tone)
    for base in "aeoAEO":
        for mark, tone in _VNI_HAT_TONE.items():
            if base.isupper() == mark.isupper():
                table[base + mark] = unicodedata.normalize("NFC", base + "\u0302" + tone)
    for mark, tone in _VNI_BREVE_TONE.items():
        base = "A" if mark.isupper() else "a"
        table[base + mark] = unicodedata.normalize("NFC", base + "\u0306" + tone)
    for horn, letter in (("ô", "ơ"), ("Ô", "Ơ"), ("ö", "ư"), ("Ö", "Ư")):
        for mark, tone in _VNI_TONES.items():
            if horn.isupper() == mark.isupper():
                table[horn + mark] = unicodedata.normalize("NFC", letter + tone)
    return table


_VNI_PAIRS = _vni_table()
_VNI_PATTERN = re.compile(
    "|".join(sorted((re.escape(k) for k in _VNI_PAIRS), key=len, reverse=True))
    + "|["
    + re.escape("".join(_VNI_SINGLE))
    + "]"
)
_VIETNAMESE = re.compile("[ăâđêôơưĂÂĐÊÔƠƯ\u1ea0-\u1ef9àáảãạèéẻẽẹìíỉĩịòóỏõọùúủũụỳýỷỹỵ]")

ENCODINGS = ("unicode", "tcvn3", "vni")


def tcvn3_to_unicode(text: str) -> str:
    """Convert TCVN3 text (as read through Windows-1252) to Unicode."""
    return "".join(_TCVN3.get(ch, ch) for ch in text)


def vni_to_unicode(text: str) -> str:
    """Convert VNI-Windows text (as read through Windows-1252) to Unicode."""

    def repl(m: re.Match[str]) -> str:
        s = m.group(0)
        return _VNI_PAIRS.get(s) or _VNI_SINGLE.get(s, s)

    return _VNI_PATTERN.sub(repl, text)


def to_unicode(text: str, encoding: str) -> str:
    """Text in the given legacy encoding ("unicode", "tcvn3" or "vni") as NFC Unicode."""
    if encoding == "tcvn3":
        text = tcvn3_to_unicode(text)
    elif encoding == "vni":
        text = vni_to_unicode(text)
    elif encoding != "unicode":
        raise ValueError(f"unknown legacy encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    return unicodedata.normalize("NFC", text)


_TO_TCVN3 = {v: k for k, v in _TCVN3.items()}
_TO_VNI = {v: k for k, v in {**_VNI_PAIRS, **_VNI_SINGLE}.items() if len(v) == 1}


def from_unicode(text: str, encoding: str) -> str:
    """Unicode text written in a legacy encoding (as Windows-1252 characters): the inverse of to_unicode.

    TCVN3 has no capitals with tone marks; those are written with the lower-case code, as .VnTimeH did.
    """
    text = unicodedata.normalize("NFC", text)
    if encoding == "tcvn3":
        return "".join(_TO_TCVN3.get(ch) or _TO_TCVN3.get(ch.lower(), ch) for ch in text)
    if encoding == "vni":
        return "".join(_TO_VNI.get(ch, ch) for ch in text)
    return text


_WORDS = re.compile(r"[^\W\d_]+")
# Common syllables of administrative reports, used to judge which reading is Vietnamese.
_COMMON = frozenset(
    [
        "xã",
        "phường",
        "thị",
        "trấn",
        "huyện",
        "tỉnh",
        "tổng",
        "số",
        "hộ",
        "nghèo",
        "cận",
        "tỷ",
        "lệ",
        "năm",
        "bản",
        "thôn",
        "khẩu",
        "nhân",
        "dân",
        "tộc",
        "đơn",
        "vị",
        "tên",
        "mã",
        "chiềng",
        "mường",
        "nậm",
        "sơn",
        "la",
        "mai",
        "châu",
        "thuận",
        "yên",
        "phù",
        "bắc",
        "sốp",
        "cộp",
        "vân",
        "hồ",
        "mộc",
        "quỳnh",
        "nhai",
        "sông",
        "mã",
        "kết",
        "quả",
        "của",
        "và",
        "các",
        "được",
        "trong",
        "toàn",
        "cộng",
        "gồm",
        "đã",
        "người",
    ]
)


def vietnamese_score(text: str) -> float:
    """How Vietnamese a text looks: share of its words that are common report syllables, plus letter hits."""
    words = [w.lower() for w in _WORDS.findall(text)]
    if not words:
        return 0.0
    common = sum(w in _COMMON for w in words) / len(words)
    letters = len(_VIETNAMESE.findall(text)) / max(len(text), 1)
    return common + letters


def detect(texts: list[str]) -> str:
    """The reading ("unicode", "tcvn3" or "vni") under which the texts look most Vietnamese."""
    sample = " ".join(texts)[:20000]
    scores = {enc: vietnamese_score(to_unicode(sample, enc)) for enc in ENCODINGS}
    best = max(scores, key=lambda e: (scores[e], e == "unicode"))
    return best if scores[best] > scores["unicode"] + 0.02 else "unicode"
