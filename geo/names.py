"""Vietnamese name and code normalisation: Unicode NFC, tone-mark placement, match keys."""

from __future__ import annotations

import re
import unicodedata

# Combining tone marks (dấu thanh): grave, acute, hook above, tilde, dot below.
TONE_MARKS = frozenset("\u0300\u0301\u0309\u0303\u0323")
# Vowel modifiers that make a letter "marked": circumflex, breve, horn.
_MODIFIED = frozenset("âăêôơư")
_VOWELS = frozenset("aăâeêioôơuưy")

# Administrative unit type prefixes, longest first so "Thị trấn" wins over "Thị".
UNIT_TYPES: tuple[str, ...] = ("Thị trấn", "Thành phố", "Thị xã", "Phường", "Huyện", "Tỉnh", "Xã")

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_SPACES = re.compile(r"\s+")


def nfc(text: str) -> str:
    """Return ``text`` in Unicode NFC with surrounding and repeated whitespace collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _split_tone(syllable: str) -> tuple[str, str | None]:
    """Split a syllable into its toneless NFC letters and its tone mark (if any)."""
    tone: str | None = None
    kept: list[str] = []
    for ch in unicodedata.normalize("NFD", syllable):
        if ch in TONE_MARKS:
            tone = ch
        else:
            kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept)), tone


def _tone_position(letters: str) -> int | None:
    """Index of the letter carrying the tone in a toneless syllable (traditional style)."""
    low = letters.lower()
    positions = [i for i, ch in enumerate(low) if ch in _VOWELS]
    if not positions:
        return None
    # "qu" and "gi" followed by another vowel: the u / i belongs to the initial consonant.
    if len(positions) > 1 and (
        (low.startswith("qu") and positions[0] == 1) or (low.startswith("gi") and positions[0] == 1)
    ):
        positions = positions[1:]
    # Only the first contiguous vowel run forms the nucleus.
    run = [positions[0]]
    for pos in positions[1:]:
        if pos == run[-1] + 1:
            run.append(pos)
        else:
            break
    marked = [i for i in run if low[i] in _MODIFIED]
    if marked:
        return marked[-1]  # ươ -> ơ, uyê -> ê, ưa -> ư
    has_final = run[-1] < len(low) - 1
    if has_final:
        return run[-1]  # hoàng, toán, thuật
    if len(run) == 3:
        return run[1]  # hoài, khuỷu, ngoẹo
    return run[0]  # hòa, thủy, khỏe, mùa, hải (traditional placement)


def normalize_tone_marks(text: str) -> str:
    """Place tone marks in the traditional style (hòa, thủy) used by Resolution 1681, in NFC."""
    text = nfc(text)

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        letters, tone = _split_tone(word)
        if tone is None:
            return word
        pos = _tone_position(letters)
        if pos is None:
            return word
        decomposed = unicodedata.normalize("NFD", letters[pos]) + tone
        return letters[:pos] + unicodedata.normalize("NFC", decomposed) + letters[pos + 1 :]

    return _WORD.sub(fix, text)


def clean_name(text: str) -> str:
    """Canonical display form of a place name: NFC, traditional tone marks, each word capitalised."""
    unit_type, bare = split_unit_type(normalize_tone_marks(text))
    bare = " ".join(word[:1].upper() + word[1:] for word in bare.split(" "))
    return f"{unit_type} {bare}" if unit_type else bare


def split_unit_type(text: str) -> tuple[str, str]:
    """Split "Xã Chiềng Ly" into ("Xã", "Chiềng Ly"); the type is "" when there is none."""
    text = nfc(text)
    low = text.casefold()
    for unit_type in UNIT_TYPES:
        prefix = unit_type.casefold() + " "
        if low.startswith(prefix):
            return unit_type, text[len(prefix) :].strip()
    return "", text


def fold_ascii(text: str) -> str:
    """Strip every diacritic (đ -> d) and casefold: "Chiềng Ơn" -> "chieng on"."""
    return strip_accents(text).casefold()


def strip_accents(text: str) -> str:
    """Every diacritic stripped (đ -> d), case kept: "Chiềng Ơn" -> "Chieng On" (CQL2 ACCENTI)."""
    decomposed = unicodedata.normalize("NFD", nfc(text).replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def match_key(text: str) -> str:
    """Key for matching names across sources: type prefix dropped, tone marks normalised, casefolded."""
    return normalize_tone_marks(split_unit_type(text)[1]).casefold()


def full_key(text: str) -> str:
    """Like match_key but keeping the unit type: "Thị trấn Hát Lót" and "Xã Hát Lót" differ."""
    unit_type, bare = split_unit_type(text)
    return f"{unit_type.casefold()} {match_key(bare)}".strip()


def normalize_code(value: object, width: int) -> str:
    """Statistics-office code as zero-padded text ("3646" -> "03646"); raises ValueError if not a code."""
    if value is None:
        raise ValueError("empty code")
    text = str(value).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit() or len(text) > width:
        raise ValueError(f"{value!r} is not a {width}-digit statistics-office code")
    return text.zfill(width)
