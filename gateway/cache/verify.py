"""Verification of a semantic-cache candidate before it is served.

Embedding similarity cannot tell a paraphrase from a near-miss: "convert 5 km to miles" and
"convert 5 miles to km" score 0.99 with MiniLM. So a candidate found by similarity is served only
if the two questions also agree on the facts that change an answer:

- numbers (digits, number words, ordinals, roman numerals after a name: "World War II"), years;
- negation (not, n't, never, no, without, non-...);
- polar word groups (enable/disable, increase/decrease, before/after, ascending/descending, ...);
- named things: capitalised tokens and acronyms, plus common lowercase tech names (python, git...)
  and place names (verify_places.py); model codes glued to a number ("Pixel 7a");
- near-spelled words: two different words a few letters apart that are not one word's forms
  ("austria"/"australia", "iran"/"iraq"): two names (verify_names.py);
- roles: what is converted or sent from / to / for whom, compared with what, who did what to whom
  with a few asymmetric verbs ("Germany beat Brazil"); swapped roles reject, symmetric frames
  ("between X and Y", "how far") serve (verify_roles.py);
- the order of numbers around an asymmetric operator (minus, divided by, to the power of);
- units and the direction of a conversion (what is converted from, what to);
- order of named things when a direction word (from, to, than, into) is present;
- wh-question type (who / when / where / why);
- a single content word swapped for another ("area" vs "circumference") when the rest is equal.

Each rule can only reject. Rules are tuned on the tune halves of tests/cache/data/ (`tune`,
`roles_tune`) and measured on the held-out pairs (bench/cache_bench.py, tests/cache/data/README.md).
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from gateway.cache import verify_lexicon as lex
from gateway.cache import verify_names as names
from gateway.cache import verify_roles
from gateway.cache.verify_places import PLACES

_TOKEN = re.compile(r"[$€£]?\d+(?:[.,]\d+)*(?:°?[A-Za-z%]+)?|[A-Za-z][A-Za-z0-9+#]*(?:[.'\-][A-Za-z0-9+#]+)*|°[CFcf]")


@dataclass(frozen=True)
class Facts:
    numbers: frozenset[str]
    negations: int
    polar: tuple[int, ...]  # per lexicon group: 0 none, 1 side A only, 2 side B only, 3 both
    entities: tuple[str, ...]  # lower-cased, in order of appearance
    tokens: frozenset[str]  # lower-cased, possessive stripped, light stemming
    units: frozenset[tuple[str, str]]  # (canonical unit, role: src | tgt | per | ?)
    directional: bool
    wh: frozenset[str]
    content: tuple[str, ...] = ()  # content words in order (stopwords removed)
    arrows: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (x, y) around "x to y"
    words: frozenset[str] = frozenset()  # lower-cased, possessive stripped, not stemmed
    roles: tuple[tuple[str, frozenset[str]], ...] = ()  # word -> its roles (verify_roles.py)
    symmetric: bool = False  # a symmetric frame word: distance, between, difference...
    number_order: tuple[str, ...] = ()  # numbers in order, when an asymmetric operator is present


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


def _stem(w: str) -> str:
    for suf in ("'s", "’s"):
        w = w.removesuffix(suf)
    for suf in ("ies", "es", "s"):
        if len(w) > 4 and w.endswith(suf) and not w.endswith("ss"):
            return w[: -len(suf)] + ("y" if suf == "ies" else "")
    return w


def _number(tok: str) -> str | None:
    t = tok.lstrip("$€£").replace(",", "")
    m = re.match(r"^(\d+(?:\.\d+)?)(k)?$", t, re.IGNORECASE)
    if m:
        v = float(m.group(1)) * (1000 if m.group(2) else 1)
        return f"{v:g}"
    return None


_NUMBER_SUFFIXES = frozenset({"st", "nd", "rd", "th", "s", "x", "am", "pm", "k", "m", "bn", "b"})
_OPERATORS = frozenset({"minus", "divided", "divide", "divides", "over", "power", "subtract", "subtracted",
                        "exponent", "mod", "modulo", "root", "/", "^"})


def _split_glued(tok: str) -> tuple[str, str] | None:
    """'100°F' -> ('100', 'f'), '5kg' -> ('5', 'kg'), '15%' -> ('15', '%'); a model code stays whole."""
    m = re.match(r"^([$€£]?\d+(?:[.,]\d+)*)(°?[A-Za-z%]+)$", tok)
    if not m:
        return None
    suffix = m.group(2).lstrip("°").lower()
    if suffix not in lex.UNITS and suffix not in _NUMBER_SUFFIXES:
        return None  # "7a", "3gs": part of a name (Pixel 7a), compared whole
    return m.group(1), suffix


def _polar_index() -> tuple[dict[str, list[tuple[int, int]]], tuple[tuple[str, int, int], ...]]:
    """POLAR_GROUPS as word -> [(group, side bit)] and (" phrase ", group, side bit): one pass per text."""
    words: dict[str, list[tuple[int, int]]] = {}
    phrases: list[tuple[str, int, int]] = []
    for g, sides in enumerate(lex.POLAR_GROUPS):
        for bit, group_side in zip((1, 2), sides):
            for w in group_side:
                if " " in w:
                    phrases.append((f" {w} ", g, bit))
                else:
                    words.setdefault(w, []).append((g, bit))
    return words, tuple(phrases)


_POLAR_WORDS, _POLAR_PHRASES = _polar_index()


@lru_cache(maxsize=4096)
def extract(text: str) -> Facts:
    text = names.fold(text)
    toks: list[str] = []
    caps: list[bool] = []
    starts: set[int] = set()
    last_end = 0
    for m in _TOKEN.finditer(text):
        if not toks or re.search(r"[.?!:;]", text[last_end:m.start()]):
            starts.add(len(toks))
        last_end = m.end()
        tok = m.group(0)
        glued = _split_glued(tok)
        if glued and _number(tok) is None:
            toks += [glued[0], glued[1]]
            caps += [False, False]
        else:
            toks.append(tok)
            caps.append(any(c.isupper() for c in tok))
    low = [names.canon(lex.ALIASES.get(t.lower(), t.lower())) for t in toks]

    numbers: set[str] = set()
    negations = 0
    entities: list[str] = []
    units: set[tuple[str, str]] = set()
    wh: set[str] = set()
    directional = False
    for i, (tok, lw) in enumerate(zip(toks, low)):
        prev = low[i - 1] if i > 0 else ""
        after_name = i > 0 and caps[i - 1] and prev not in lex.COMMON_STARTS and prev not in lex.NOT_ENTITIES
        n = _number(tok)
        if n is not None:
            numbers.add(n)
        elif lw in lex.NUMBER_WORDS:
            numbers.add(lex.NUMBER_WORDS[lw])
        elif lw in lex.ORDINALS and (lw != "second" or prev == "the"):
            numbers.add(lex.ORDINALS[lw])
        elif tok in lex.ROMAN and after_name and (tok != "I" or (i > 1 and caps[i - 2])):
            numbers.add(lex.ROMAN[tok])
        elif re.fullmatch(r"\d+[a-z]+", lw):  # a model code: Pixel 7a
            numbers.add(lw)
        elif any(c.isdigit() for c in tok):  # carbon-14, B12, python3, GPT-4
            numbers.update(f"{float(d):g}" for d in re.findall(r"\d+(?:\.\d+)?", tok))
        if lw in lex.NEGATIONS or lw.endswith("n't") or lw.startswith("non-"):
            negations += 1
        if lw in lex.WH:
            wh.add(lw)
        if lw in lex.DIRECTIONAL:
            directional = True
        unit = lex.UNITS.get(lw)
        if unit is not None and (lw not in lex.AMBIGUOUS_UNITS or _after_number(low, i)):
            units.add((unit, _unit_role(low, i)))
            continue
        if tok in lex.ROMAN and after_name and (tok != "I" or (i > 1 and caps[i - 2])):
            continue
        if caps[i] and lw not in lex.NOT_ENTITIES and not (i in starts and lw in lex.COMMON_STARTS) \
                or lw in lex.LOWERCASE_NAMES or _possessive(lw) in PLACES:
            # a capitalised plural inside a sentence is kept whole: "Aliens" (the film) is not "Alien"
            whole = caps[i] and i not in starts or _possessive(lw) in PLACES
            entities.append(_possessive(lw) if whole else _stem(lw))
    tokens = frozenset(_stem(t) for t in low)
    words = frozenset(_possessive(t) for t in low)
    joined = " " + " ".join(low) + " "
    bits = [0] * len(lex.POLAR_GROUPS)
    for t in set(low):
        for g, bit in _POLAR_WORDS.get(t, ()):
            bits[g] |= bit
    for ph, g, bit in _POLAR_PHRASES:
        if ph in joined:
            bits[g] |= bit
    polar = tuple(bits)
    is_content = [t not in lex.STOPWORDS and len(t) > 1 and not t[0].isdigit() for t in low]
    content = tuple(lex.UNITS.get(t) or _stem(t) for t, c in zip(low, is_content) if c)
    arrows: set[tuple[str, str]] = set()
    for i, lw in enumerate(low):
        if lw in ("to", "into"):
            x = next((_stem(low[j]) for j in range(i - 1, -1, -1) if is_content[j]), None)
            y = next((_stem(low[j]) for j in range(i + 1, len(low)) if is_content[j]), None)
            if x and y:
                arrows.add((x, y))
    stems = {t: _stem(t) for t in low}
    role_map = verify_roles.roles(low, caps, stems)
    order: tuple[str, ...] = ()
    if any(t in _OPERATORS for t in low) or re.search(r"\d\s*[/^-]\s*\d", text):
        order = tuple(n for n in (_number(t) for t in toks) if n is not None)
    return Facts(frozenset(numbers), negations, polar, tuple(dict.fromkeys(entities)), tokens,
                 frozenset(units), directional, frozenset(wh), content, frozenset(arrows), words,
                 tuple(sorted(role_map.items())), any(t in verify_roles.SYMMETRIC_FRAMES for t in low), order)


def _possessive(w: str) -> str:
    for suf in ("'s", "’s"):
        w = w.removesuffix(suf)
    return w


def _after_number(low: list[str], i: int) -> bool:
    j = i - 1
    while j >= 0 and low[j] in ("degrees", "degree", "°"):
        j -= 1
    return j >= 0 and (_number(low[j]) is not None or low[j] in lex.NUMBER_WORDS)


def _unit_role(low: list[str], i: int) -> str:
    if _after_number(low, i):
        return "src"
    j = i - 1
    while j >= 0 and low[j] in ("a", "an", "the", "one", "degrees", "degree"):
        j -= 1
    prev = low[j] if j >= 0 else ""
    if prev in ("to", "into", "in"):
        return "tgt"
    if prev == "from" or (i + 1 < len(low) and low[i + 1] in ("to", "into")):  # "USD to GBP"
        return "src"
    if prev == "per":
        return "per"
    return "?"


def _units_conflict(a: frozenset[tuple[str, str]], b: frozenset[tuple[str, str]]) -> bool:
    ua, ub = {u for u, _ in a}, {u for u, _ in b}
    if (ua - ub) and (ub - ua):  # each side names a unit the other lacks: "oz in a cup" / "oz in a pound"
        return True
    # what is converted (a number's unit, "from X") and into what ("to/in X") must agree
    for role in ("src", "tgt"):
        ra, rb = {u for u, r in a if r == role}, {u for u, r in b if r == role}
        if role == "src" and ra != rb:
            return True
        if ra and rb and ra != rb:
            return True
    return False


def _entities_missing(a: Facts, b: Facts) -> str | None:
    for e in a.entities:
        if e not in b.tokens and e not in b.entities and e not in b.words:
            return e
    return None


def _near_spelled(a: Facts, b: Facts) -> tuple[str, str] | None:
    """A word only in a and one only in b, a few letters apart, not one word's forms."""
    wa = set(a.content) | set(a.entities)
    wb = set(b.content) | set(b.entities)
    for x in wa - wb:
        for y in wb - wa:
            if names.near_spelled(x, y) and not _related(x, y):
                return x, y
    return None


def _single_swap(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, str] | None:
    """The one differing word when two content-word sequences differ in exactly one slot."""
    if len(a) != len(b) or len(a) < 2:
        return None
    diff = [(x, y) for x, y in zip(a, b) if x != y]
    return diff[0] if len(diff) == 1 else None


def _related(x: str, y: str) -> bool:
    """Same word family (difference/differ), listed synonyms, or the same side of a polar group."""
    if names.same_family(x, y):
        return True
    if frozenset((x, y)) in lex.SYNONYMS or (x in lex.FRAME_WORDS and y in lex.FRAME_WORDS):
        return True
    return any((x in a and y in a) or (x in b and y in b) for a, b in lex.POLAR_WORDS)


def _roles_agree(shared: list[str], a: dict[str, frozenset[str]], b: dict[str, frozenset[str]]) -> bool:
    """Every shared name has a role in both questions, the same one: word order does not matter."""
    keys = [verify_roles.key(e) for e in shared]
    return all(a.get(k) and a.get(k) == b.get(k) for k in keys)


def verify(query: str, candidate: str) -> Verdict:
    """Would `candidate`'s cached answer also answer `query`? Conservative: any doubt rejects."""
    if query.strip().lower() == candidate.strip().lower():
        return Verdict(True)
    fa, fb = extract(query), extract(candidate)
    if fa.numbers != fb.numbers:
        return Verdict(False, "numbers differ")
    if (fa.negations > 0) != (fb.negations > 0):
        return Verdict(False, "negation differs")
    for (ga, gb), (a_words, _) in zip(zip(fa.polar, fb.polar), lex.POLAR_GROUPS):
        if ga and gb and ga != gb or {ga, gb} == {1, 2}:
            return Verdict(False, f"opposite words ({a_words[0]})")
    missing = _entities_missing(fa, fb) or _entities_missing(fb, fa)
    if missing:
        return Verdict(False, "named thing differs")
    if _units_conflict(fa.units, fb.units):
        return Verdict(False, "units or conversion direction differ")
    if _near_spelled(fa, fb):
        return Verdict(False, "near-spelled names differ")
    roles_a, roles_b = dict(fa.roles), dict(fb.roles)
    if verify_roles.conflict(roles_a, roles_b):
        return Verdict(False, "direction differs: roles swapped")
    if fa.number_order and fb.number_order and fa.number_order != fb.number_order:
        return Verdict(False, "order of numbers differs")
    shared = [e for e in fa.entities if e in fb.entities]
    order_b = [e for e in fb.entities if e in shared]
    if len(shared) >= 2 and shared != order_b and (fa.directional or fb.directional) \
            and not (fa.symmetric and fb.symmetric) and not _roles_agree(shared, roles_a, roles_b):
        return Verdict(False, "direction differs")
    if fa.wh and fb.wh and not (fa.wh & fb.wh):
        return Verdict(False, "question type differs")
    if any((y, x) in fb.arrows and x != y for x, y in fa.arrows) and not (fa.symmetric and fb.symmetric):
        return Verdict(False, "conversion direction differs")
    swapped = _single_swap(fa.content, fb.content)
    if swapped and not _related(*swapped):
        return Verdict(False, "one content word swapped")
    return Verdict(True)
