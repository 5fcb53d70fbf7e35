"""Name and code normalisation."""

from __future__ import annotations

import unicodedata

import pytest

from geo.names import clean_name, fold_ascii, full_key, match_key, nfc, normalize_code, normalize_tone_marks


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Liên Hoà", "Liên Hòa"),  # new-style placement moved to the traditional one
        ("Thuỷ", "Thủy"),
        ("khoẻ", "khỏe"),
        ("Hòa", "Hòa"),  # already traditional
        ("hoàng", "hoàng"),  # final consonant: tone on the last vowel
        ("quý", "quý"),  # qu- : the u belongs to the initial
        ("già", "già"),  # gi- : the i belongs to the initial
        ("Mường", "Mường"),  # ươ: tone on ơ
        ("Chiềng", "Chiềng"),
        ("hoài", "hoài"),  # three vowels: the middle one
        ("Nghịu", "Nghịu"),
    ],
)
def test_tone_marks_take_traditional_positions(given: str, expected: str) -> None:
    assert normalize_tone_marks(given) == unicodedata.normalize("NFC", expected)


def test_nfd_input_becomes_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Xã Chiềng Ơn")
    assert decomposed != "Xã Chiềng Ơn"
    assert nfc(decomposed) == "Xã Chiềng Ơn"
    assert unicodedata.is_normalized("NFC", clean_name(decomposed))


def test_clean_name_collapses_spaces_and_capitalises_words() -> None:
    assert clean_name("Xã Cò  Nòi") == "Xã Cò Nòi"
    assert clean_name("Xã Mường é") == "Xã Mường É"
    assert clean_name("THỊ TRẤN Hát Lót") == "Thị trấn Hát Lót"
    assert clean_name("xã é Tòng") == "Xã É Tòng"


def test_match_keys() -> None:
    assert match_key("Phường Đông Sang") == match_key("Xã Đông Sang")
    assert match_key("Xã Liên Hoà") == match_key("xã liên hòa")
    assert full_key("Thị trấn Hát Lót") != full_key("Xã Hát Lót")
    assert match_key("Xã Tông Cọ") != match_key("Xã Tòng Cọ")  # different letters stay different
    assert fold_ascii("Xã Chiềng Ơn") == "xa chieng on"
    assert fold_ascii("Đoàn Kết") == "doan ket"


@pytest.mark.parametrize(
    ("given", "width", "expected"), [(3646, 5, "03646"), ("03646", 5, "03646"), ("116.0", 3, "116"), (" 14 ", 2, "14")]
)
def test_codes_are_zero_padded_text(given: object, width: int, expected: str) -> None:
    assert normalize_code(given, width) == expected


@pytest.mark.parametrize("bad", ["03-646", "", "123456", "abc", None])
def test_bad_codes_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        normalize_code(bad, 5)
