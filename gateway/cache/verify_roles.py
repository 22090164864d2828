"""Roles of the things a question names, for gateway/cache/verify.py.

"Flights from Paris to Berlin" and "flights from Berlin to Paris", "a card for my mother from my
son" and its swap, "did Germany beat Brazil" and "did Brazil beat Germany" share every word and
score 0.97-0.99 with MiniLM. Here each word that fills a role gets that role:

- after a role preposition: from (source), to / into / onto / towards (target), for (beneficiary),
  than / ahead of / behind / before / after (compared with; the content words before the
  comparison are what is compared);
- after a role noun: source / sender / origin (source), target / recipient / destination (target),
  and "X as the source";
- subject and object of a few asymmetric verbs (beat, acquire, sue, invade, owe, chase, eat ...),
  read from the passive too ("YouTube was acquired by Google" = "Google acquired YouTube").

verify.py rejects when one word has different roles in the two questions; a word with a role in
one question only constrains nothing. "Between X and Y" gives both the same role, and with a
symmetric frame word (distance, far, difference, between ...) source and target are one role, so
"how far is Paris from Berlin" serves "how far is Berlin from Paris". Pure functions, no I/O.
"""

from __future__ import annotations

from gateway.cache import verify_lexicon as lex
from gateway.cache.verify_places import PLACES

SOURCE_WORDS = frozenset({"from"})
TARGET_WORDS = frozenset({"to", "into", "onto", "towards", "toward"})
ROLE_PREPS = {**{w: "src" for w in SOURCE_WORDS}, **{w: "tgt" for w in TARGET_WORDS}, "for": "ben"}
ROLE_NOUNS = {"source": "src", "sender": "src", "origin": "src",
              "target": "tgt", "recipient": "tgt", "receiver": "tgt", "destination": "tgt", "dest": "tgt"}
COMPARE_AFTER = frozenset({"than", "before", "after", "behind"})  # "ahead of" handled as a phrase
SYMMETRIC_FRAMES = frozenset({"distance", "far", "apart", "difference", "differences", "differ", "different",
                              "between", "similar", "similarity", "similarities", "compare", "comparison",
                              "common", "relationship", "together", "mix", "mixing", "same"})
_COMPARATIVES = next(a + b for a, b in lex.POLAR_GROUPS if "bigger" in a)
# Asymmetric verbs, each form -> its relation (synonyms share one: beat = defeat).
_VERBS: dict[str, str] = {}
for rel, forms in {
    "beat": ("beat", "beats", "beaten", "beating", "defeat", "defeats", "defeated", "defeating"),
    "acquire": ("acquire", "acquires", "acquired", "acquiring", "buy", "buys", "bought", "buying",
                "purchase", "purchases", "purchased", "takeover", "absorbed"),
    "sue": ("sue", "sues", "sued", "suing"),
    "invade": ("invade", "invades", "invaded", "invading", "attack", "attacks", "attacked", "conquer",
               "conquers", "conquered"),
    "owe": ("owe", "owes", "owed", "owing"),
    "pay": ("pay", "pays", "paid", "paying"),
    "chase": ("chase", "chases", "chased", "chasing"),
    "eat": ("eat", "eats", "ate", "eaten", "eating"),
    "kill": ("kill", "kills", "killed", "killing", "murder", "murdered", "shot", "shoot", "shoots"),
    "bite": ("bite", "bites", "bit", "bitten", "biting"),
    "hire": ("hire", "hires", "hired", "hiring", "employ", "employs", "employed"),
    "replace": ("replace", "replaces", "replaced", "replacing", "succeed", "succeeded", "succeeds"),
    "teach": ("teach", "teaches", "taught", "teaching"),
    "sell": ("sell", "sells", "sold", "selling"),
    "follow": ("follows", "followed", "precede", "precedes", "preceded"),
    "lend": ("lend", "lends", "lent", "lending"),
    "email": ("email", "emails", "emailed", "message", "messaged", "text", "texted", "call", "called"),
}.items():
    for f in forms:
        _VERBS[f] = rel
_BE = frozenset({"is", "are", "was", "were", "be", "been", "being", "get", "got", "gets", "getting"})
_SKIP = lex.STOPWORDS | {"'s", "’s", "n't"}


def _is_filler(w: str) -> bool:
    return len(w) > 1 and w not in _SKIP and w not in ROLE_NOUNS and w not in _VERBS and not w[0].isdigit()


def _run(low: list[str], caps: list[bool], j: int, step: int) -> list[int]:
    """j and, when j is capitalised, the capitalised fillers next to it (a name: Muhammad Ali)."""
    out = [j]
    k = j + step
    while caps[j] and 0 <= k < len(low) and caps[k] and _is_filler(low[k]):
        out.append(k)
        k += step
    return out


_BARRIERS = frozenset(ROLE_PREPS) | COMPARE_AFTER | {"and", "or", "vs", "versus", "by"}


def _next_filler(low: list[str], i: int, stop: int = 4, through: frozenset[str] = frozenset()) -> int | None:
    for j in range(i + 1, min(len(low), i + 1 + stop)):
        if _is_filler(low[j]):
            return j
        if low[j] in _BARRIERS and low[j] not in through:
            return None
    return None


def _prev_filler(low: list[str], i: int, stop: int = 4) -> int | None:
    for j in range(i - 1, max(-1, i - 1 - stop), -1):
        if _is_filler(low[j]):
            return j
        if low[j] in _BARRIERS:
            return None
    return None


def _is_comparative(w: str) -> bool:
    if w in ("more", "less", "fewer", "worse", "better", "ahead"):
        return True
    return w in _COMPARATIVES or (len(w) > 4 and w.endswith("er"))


def key(w: str, stem: dict[str, str] | None = None) -> str:
    """The word as roles compare it: stemmed, and a short plural too (dogs = dog)."""
    if w in PLACES:
        return w
    w = stem.get(w, w) if stem else w
    return w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w


def roles(low: list[str], caps: list[bool], stem: dict[str, str]) -> dict[str, frozenset[str]]:
    """Role-bearing words of one tokenised, lower-cased question: word (stemmed) -> its roles.

    A role is "kind:name": p (preposition or role noun: src, tgt, ben, sym), c (comparison: cmp,
    than), v (verb: agt:beat, pat:beat). verify.py compares roles of one kind with each other.
    """
    found: dict[str, set[str]] = {}
    symmetric = any(w in SYMMETRIC_FRAMES for w in low)

    def put(j: int | None, role: str, step: int = 1) -> None:
        if j is None:
            return
        if symmetric and role in ("src", "tgt"):
            role = "sym"
        kind = "v" if ":" in role else "c" if role in ("cmp", "than") else "p"
        for k in _run(low, caps, j, step):
            found.setdefault(key(low[k], stem), set()).add(f"{kind}:{role}")

    n = len(low)
    for i, w in enumerate(low):
        nxt = low[i + 1] if i + 1 < n else ""
        if w == "between":
            put(_next_filler(low, i), "sym")
            k = next((k for k in range(i + 1, min(n, i + 6)) if low[k] == "and"), None)
            if k is not None:
                put(_next_filler(low, k), "sym")
        elif w in ROLE_PREPS and not (w == "to" and i > 0 and low[i - 1] in _BE and nxt in _VERBS):
            j = _next_filler(low, i)
            # "the sender to alice": the noun names the role of what follows, not "to"
            if j is not None and not (i > 0 and low[i - 1] in ROLE_NOUNS):
                put(j, ROLE_PREPS[w])
        elif w in ROLE_NOUNS and w != "from":
            if i > 1 and low[i - 1] in ("the", "a") and low[i - 2] == "as" or i > 0 and low[i - 1] == "as":
                put(_prev_filler(low, i - (2 if low[i - 1] != "as" else 1)), ROLE_NOUNS[w], -1)
            else:  # "the sender is alice", "set the sender to alice"
                put(_next_filler(low, i, through=TARGET_WORDS), ROLE_NOUNS[w])
        elif w in COMPARE_AFTER or (w == "ahead" and nxt == "of"):
            j = _next_filler(low, i + (1 if w == "ahead" else 0))
            if j is None:
                continue
            put(j, "than")
            # what is compared: the content words before the comparison (not the comparative itself)
            for k in range(i):
                if _is_filler(low[k]) and not _is_comparative(low[k]) and low[k] not in lex.COMMON_STARTS \
                        and low[k] not in lex.FRAME_WORDS:
                    found.setdefault(key(low[k], stem), set()).add("c:cmp")
        elif w in _VERBS:
            rel = _VERBS[w]
            by = next((k for k in range(i + 1, min(n, i + 3)) if low[k] == "by"), None)
            be = i > 0 and (low[i - 1] in _BE or (i > 1 and low[i - 1] in ("not", "never") and low[i - 2] in _BE))
            if be or by is not None:  # passive: "(was) YouTube acquired by Google"
                put(_prev_filler(low, i - 1 if be else i), f"pat:{rel}", -1)
                if by is not None:
                    put(_next_filler(low, by), f"agt:{rel}")
            else:
                put(_prev_filler(low, i), f"agt:{rel}", -1)
                put(_next_filler(low, i), f"pat:{rel}")
    return {k: frozenset(v) for k, v in found.items()}


def conflict(a: dict[str, frozenset[str]], b: dict[str, frozenset[str]]) -> str | None:
    """A word that fills different roles of one kind in the two questions, if any."""
    for w, ra in a.items():
        rb = b.get(w)
        if rb is None:
            continue
        for kind in ("p", "c", "v"):
            ka = {r for r in ra if r[0] == kind}
            kb = {r for r in rb if r[0] == kind}
            if ka and kb and ka != kb:
                return w
    return None
