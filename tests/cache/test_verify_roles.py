"""Issue #20 rules of the verifier: near-spelled names and swapped roles (gateway/cache/verify*.py).

Sentences here are written for the tests, not taken from the labelled pairs' held-out halves.
"""

from __future__ import annotations

import pytest

from gateway.cache.verify import extract, verify
from gateway.cache.verify_names import canon, fold, near_spelled, same_family


@pytest.mark.parametrize("a,b,reason", [
    # lower-case places and near-spelled words (the capitalisation rule does not see them)
    ("what is the capital of austria", "what is the capital of australia", "differ"),
    ("what is the capital of mali", "what is the capital of malawi", "differ"),
    ("what's the weather in paris in may", "weather in rome in may?", "named thing"),
    ("who is jon smith", "who is john smyth", "near-spelled"),
    ("side effects of prednisone", "side effects of prednisolone", "near-spelled"),
    ("What is the principal of a loan?", "What is the principle of a loan?", "near-spelled"),
    ("What is the capital of Austria?", "What is austria's neighbour australia's capital", "named thing"),
    # a model code glued to its number
    ("How much does the Pixel 7 cost?", "How much does the Pixel 7a cost?", "numbers"),
    ("Is the Galaxy S23 waterproof?", "Is the Galaxy S23 FE waterproof?", "named thing"),
    # a capitalised plural is another name
    ("What's the plot of the movie Alien?", "What's the plot of the movie Aliens?", "named thing"),
    # roles: from / to / for, role nouns, comparisons, asymmetric verbs, passive
    ("a birthday card for my mother from my son", "a birthday card for my son from my mother", "roles"),
    ("how do I get from the airport to the city center", "how do I get from the city center to the airport",
     "direction"),
    ("Copy rows where the source is staging and the target is prod", "Copy rows where the source is prod and the "
     + "target is staging", "roles"),
    ("Set the sender to ann@example.com and the recipient to bo@example.com",
     "Set the sender to bo@example.com and the recipient to ann@example.com", "roles"),
    ("is a cat smarter than a dog", "is a dog smarter than a cat", "roles"),
    ("How many hours is Tokyo ahead of London?", "How many hours is London ahead of Tokyo?", "roles"),
    ("Did Spain beat Italy?", "Did Italy beat Spain?", "roles"),
    ("Who did Roger Federer beat in the final?", "Who beat Roger Federer in the final?", "roles"),
    ("why does my cat chase my dog", "why does my dog chase my cat", "roles"),
    ("Was Caesar killed by Brutus?", "Was Brutus killed by Caesar?", "roles"),
    # numbers around an asymmetric operator
    ("What is 100 minus 30?", "What is 30 minus 100?", "order of numbers"),
    ("What is 2 to the power of 8?", "What is 8 to the power of 2?", "order of numbers"),
])
def test_rejects_issue_20_near_misses(a: str, b: str, reason: str) -> None:
    v = verify(a, b)
    assert not v.ok and reason in v.reason, v
    assert not verify(b, a).ok  # symmetric


@pytest.mark.parametrize("a,b", [
    # case, diacritics, possessives, British/American spelling, trusted aliases
    ("What is the capital of Austria?", "what's austria's capital"),
    ("What is the population of Zürich?", "What is the population of Zurich?"),
    ("How do I get to São Paulo airport?", "How do I get to Sao Paulo airport?"),
    ("Where is the city centre of Oslo?", "Where is the city center of Oslo?"),
    ("How do I colour a cell in Excel?", "How do I color a cell in Excel?"),
    ("How do I analyse data in Excel?", "How do I analyze data in Excel?"),
    ("What's the population of the US?", "What is the population of the United States?"),
    ("What is the capital of the UK?", "What is the capital of the United Kingdom?"),
    ("When did the UK join the EU?", "When did the United Kingdom join the European Union?"),
    # one word's forms are not near-spelled names
    ("What's the difference between a list and a tuple in Python?", "How does a Python list differ from a tuple?"),
    ("What is the half-life of carbon-14?", "How long is the half-life of carbon 14?"),
    # same roles, reworded: reordered phrases, active / passive
    ("Find flights from Paris to Berlin", "Find flights to Berlin from Paris"),
    ("How do I get from the airport to the city center in Lisbon?",
     "What's the best way to get to Lisbon city centre from the airport?"),
    ("When did Google acquire YouTube?", "When was YouTube acquired by Google?"),
    ("Did Aaron Burr kill Alexander Hamilton?", "Was Alexander Hamilton killed by Aaron Burr?"),
    ("Can dogs eat cat food?", "Can a dog eat cat food?"),
    ("Is an elephant heavier than a hippo?", "Is the elephant heavier than the hippo?"),
    ("What is the exchange rate from USD to GBP?", "USD to GBP exchange rate?"),
    # symmetric frames: the swap keeps the answer
    ("What is the difference between Python and Java?", "What is the difference between Java and Python?"),
    ("How far is Paris from Berlin?", "How far is Berlin from Paris?"),
    ("What is the distance from Earth to the Moon?", "What is the distance from the Moon to Earth?"),
    ("Is it safe to mix bleach and vinegar?", "Is it safe to mix vinegar and bleach?"),
])
def test_serves_issue_20_paraphrases(a: str, b: str) -> None:
    assert verify(a, b).ok, verify(a, b).reason
    assert verify(b, a).ok, verify(b, a).reason


def test_near_spelled_and_word_families() -> None:
    assert near_spelled("austria", "australia") and near_spelled("iran", "iraq") and near_spelled("jon", "john")
    assert not near_spelled("difference", "differ") and not near_spelled("install", "installation")
    assert not near_spelled("paris", "berlin") and not near_spelled("carbon-14", "carbon")
    assert same_family("enable", "enabling") and not same_family("principal", "principle")
    assert canon("colour") == canon("color") and canon("organise") == canon("organize")
    assert canon("four") == "four" and canon("tour") == "tour"  # not British spellings


def test_fold_and_extract() -> None:
    assert fold("Zürich, the U.S. and the United Kingdom").split() == ["Zurich,", "the", "USA", "and", "the", "UK"]
    assert fold("tell us about it") == "tell us about it"  # a pronoun is not the country
    f = extract("flights from paris to berlin for my mother")
    assert {"paris", "berlin"} <= set(f.entities)
    roles = dict(f.roles)
    assert roles["paris"] == {"p:src"} and roles["berlin"] == {"p:tgt"} and roles["mother"] == {"p:ben"}
    g = dict(extract("Was YouTube acquired by Google?").roles)
    assert g["google"] == {"v:agt:acquire"} and g["youtube"] == {"v:pat:acquire"}
    assert extract("What is 10 divided by 4?").number_order == ("10", "4")
    assert extract("Is the Pixel 7a good?").numbers == {"7a"}


def test_polar_index_reads_like_the_substring_scan() -> None:
    """The one-pass polar lookup (a speed-up) gives the substring scan's bits on every labelled text."""
    from gateway.cache import verify_lexicon as lex
    from tests.cache.pairs import load_pairs

    texts = {t for p in load_pairs() for t in (p.a, p.b)} | {"turn on the lights, then turn off the fan"}
    for text in texts:
        f = extract(text)
        joined = " " + " ".join(extract_low(text)) + " "
        want = tuple((1 if any(f" {w} " in joined for w in a) else 0) | (2 if any(f" {w} " in joined for w in b) else 0)
                     for a, b in lex.POLAR_GROUPS)
        assert f.polar == want, text


def extract_low(text: str) -> list[str]:
    """The lower-cased token sequence extract() works on (its first steps, repeated here)."""
    from gateway.cache import verify as v

    out: list[str] = []
    for m in v._TOKEN.finditer(fold(text)):
        tok = m.group(0)
        glued = v._split_glued(tok)
        out += [glued[0], glued[1]] if glued and v._number(tok) is None else [tok]
    return [canon(v.lex.ALIASES.get(t.lower(), t.lower())) for t in out]
