"""Names for gateway/cache/verify.py: text folding, aliases, spelling variants, near-spelled words.

Two questions that name things a few letters apart ("Austria"/"Australia", "Iran"/"Iraq",
"prednisone"/"prednisolone", "jon smith"/"john smyth") ask about different things, but MiniLM puts
them at 0.95+ and the older rules let a lowercase pair through (the content-swap rule took a
shared 5-letter prefix for one word family). Here:

- `fold` removes diacritics and writes the few aliases this module trusts as one token ("the United
  States" = "the US" = "USA"), so "Zürich"/"Zurich" and "UK"/"United Kingdom" compare equal;
- `canon` writes British and American spellings alike (colour/color, centre/center, -ise/-ize);
- `near_spelled(x, y)` is true for two different words within a small edit distance that are not
  one word's inflections (difference/differ, enable/enabling): such a pair is taken as two names.

A typo ("Nvidea" for "Nvidia") is therefore a miss too: the verifier prefers a miss when unsure.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Aliases written as one canonical token before tokenising. Only spellings of the same name that
# no reader would answer differently; "Britain", "England", "America" are left out on purpose.
_ALIASES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"\b(?i:the\s+)?(?i:united\s+states(?:\s+of\s+america)?)\b|\bU\.S\.A\.?|\bU\.S\.(?!\w)|\bUSA\b|\bUS\b", " USA "),
    (r"\b(?i:united\s+kingdom)\b|\bU\.K\.(?!\w)|\bUK\b", " UK "),
    (r"\b(?i:united\s+arab\s+emirates)\b|\bU\.A\.E\.(?!\w)|\bUAE\b", " UAE "),
    (r"\b(?i:european\s+union)\b|\bE\.U\.(?!\w)|\bEU\b", " EU "),
    (r"\b(?i:new\s+york\s+city)\b|\bNYC\b", " NYC "),
))


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Diacritics removed (São Paulo -> Sao Paulo), trusted aliases written as one token."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c))
    for pat, rep in _ALIASES:
        t = pat.sub(rep, t)
    return t


_SPELLING = (
    (re.compile(r"(?<=[a-z]{3})our(s?)$"), r"or\1"),  # colour, flavour, behaviour (not four, tour)
    (re.compile(r"(?<=[a-z]{2})tre(s?)$"), r"ter\1"),  # centre, litre, theatre, fibre
    (re.compile(r"(?<=[a-z]{3})is(e|es|ed|ing|ation|ations)$"), r"iz\1"),  # organise, realisation
    (re.compile(r"(?<=[a-z]{2})ys(e|es|ed|ing)$"), r"yz\1"),  # analyse, paralyse
    (re.compile(r"(?<=[a-z]{3})ogue(s?)$"), r"og\1"),  # catalogue, dialogue
    (re.compile(r"(?<=[a-z]{3}[aeiou])ll(ed|ing|er|ers)$"), r"l\1"),  # travelled, cancelling
)


_WORDS = {"grey": "gray", "tyre": "tire", "tyres": "tires", "defence": "defense", "licence": "license",
          "offence": "offense", "programme": "program", "programmes": "programs", "aluminium": "aluminum"}


@lru_cache(maxsize=16384)
def canon(w: str) -> str:
    """One spelling for British/American variants; applied to both texts alike."""
    if len(w) < 5 or not w.isalpha():
        return _WORDS.get(w, w)
    if w in _WORDS:
        return _WORDS[w]
    for pat, rep in _SPELLING:
        new = pat.sub(rep, w)
        if new != w:
            return new
    return w


# Endings that keep a word in its family (difference/differ, install/installation, enable/enabling).
_FAMILY_ENDINGS = frozenset(["", "e", "s", "es", "ed", "d", "ing", "er", "ers", "or", "ors", "ence", "ences",
                             "ent", "ance", "ant", "ation", "ations", "ion", "ions", "al", "ally", "ly", "ment",
                             "ments", "ity", "ness", "able", "ible", "ive", "y", "ies", "ied", "ication", "ic",
                             "ical", "ism", "ist", "ists", "ize", "izes", "ized", "izing", "ization", "ful", "less",
                             "est", "ery"])


def same_family(x: str, y: str) -> bool:
    """Inflections or derivations of one stem: the two words differ only by known endings."""
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    if n < 4 and not (n == 3 and min(len(x), len(y)) == 3):
        return False
    for k in range(n, max(n - 3, 2), -1):  # allow the stem to end a little earlier (enabl-e / enabl-ing)
        if x[k:] in _FAMILY_ENDINGS and y[k:] in _FAMILY_ENDINGS:
            return True
    return False


def _distance(x: str, y: str, cap: int) -> int:
    """Levenshtein distance, stopping early once every path exceeds cap."""
    if abs(len(x) - len(y)) > cap:
        return cap + 1
    prev = list(range(len(y) + 1))
    for i, cx in enumerate(x, 1):
        cur = [i]
        for j, cy in enumerate(y, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (cx != cy)))
        if min(cur) > cap:
            return cap + 1
        prev = cur
    return prev[-1]


def near_spelled(x: str, y: str) -> bool:
    """Two different words a few letters apart that are not one word's forms: likely two names.

    Within edit distance 1 for words of up to 5 letters (iran/iraq, jon/john), else within 40% of
    the longer word (austria/australia 2/9, slovenia/slovakia 2/8, prednisone/prednisolone 2/12).
    """
    if x == y or len(x) < 3 or len(y) < 3 or not x.isalpha() or not y.isalpha():
        return False  # "carbon-14" / "carbon": the number rule decides
    longer = max(len(x), len(y))
    cap = 1 if longer <= 5 else max(2, int(0.4 * longer))
    if _distance(x, y, cap) > cap:
        return False
    return not same_family(x, y)
