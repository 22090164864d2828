"""Text normalisation and cue features for the injection classifier.

Normalisation undoes cheap obfuscation (spaced-out letters, zero-width characters) and maps common
German/French/Spanish override words to English tokens, so what the model learns from the English
training data carries over to the multilingual deepset prompts. Cues are hand-written regexes for
the override / role / exfiltration phrasings that attacks share; the classifier learns their weight.
"""

from __future__ import annotations

import re
import unicodedata

_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\U000e0000-\U000e007f]")
_SPACED = re.compile(r"\b(?:\w ){4,}\w\b")
_WS = re.compile(r"\s+")

# Foreign trigger word -> English token appended to the text (never replacing it).
_LEXICON: dict[str, str] = {
    "vergiss": "forget", "vergessen": "forget", "vergesse": "forget", "ignoriere": "ignore",
    "ignorieren": "ignore", "ignoriert": "ignore", "anweisungen": "instructions", "anweisung": "instructions",
    "vorherigen": "previous", "bisherigen": "previous", "obigen": "above", "vorher": "previous",
    "aufgabe": "task", "aufgaben": "tasks", "neue": "new", "jetzt": "now", "nun": "now", "alles": "everything",
    "sag": "say", "sage": "say", "sagen": "say", "schreib": "write", "schreibe": "write", "gib": "give",
    "passwort": "password", "geheim": "secret", "befehl": "command", "regeln": "rules", "tu": "pretend",
    "oublie": "forget", "ignorez": "ignore", "ignore-les": "ignore", "précédentes": "previous",
    "olvida": "forget", "ignora": "ignore", "instrucciones": "instructions", "anteriores": "previous",
    "dimenticare": "forget", "istruzioni": "instructions", "precedenti": "previous",
    "vorangehenden": "previous", "vorangegangenen": "previous", "befehle": "commands", "instruktionen": "instructions",
    "игнорируй": "ignore", "предыдущие": "previous", "инструкции": "instructions", "пароль": "password",
    "oubliez": "forget", "oublier": "forget", "toutes": "all", "dites": "say", "ignorer": "ignore",
    "olvidar": "forget", "olvides": "forget", "ignorar": "ignore", "dices": "say",
    "ausführungen": "instructions", "ignorier": "ignore", "vergesst": "forget", "verfasse": "write",
    "vorgaben": "instructions", "befehlen": "commands",
    # more override words (Spanish, Portuguese, Dutch, Polish, Croatian/Serbian/Bosnian)
    "olvide": "forget", "olvidad": "forget", "esqueça": "forget", "esqueca": "forget", "instruções": "instructions",
    "vergeet": "forget", "negeer": "ignore", "instructies": "instructions", "zapomnij": "forget",
    "zignoruj": "ignore", "instrukcje": "instructions", "zaboravi": "forget", "ignoriraj": "ignore",
    "instrukcije": "instructions", "upute": "instructions",
}

CUES: tuple[tuple[str, str], ...] = (
    ("override", r"\b(?:ignore|forget|disregard|overlook|skip|drop)\b[^.!?\n]{0,40}\b(?:previous|prior|above|earlier|all|everything|instructions?|rules|tasks?|context)\b"),
    ("new_task", r"\b(?:new|next|your real|actual)\s+(?:task|instructions?|assignment|role|mission)\b|\bnow\s+(?:you|your|focus|act|say|write)\b"),
    ("say_that", r"\b(?:say|state|write|print|output|answer|respond|reply|include|claim|confirm)\b(?:\s+\w+){0,3}\s*(?:that|:|\")"),
    ("role", r"\b(?:pretend|act as|you are now|from now on|roleplay|role-play|role play|imagine you are|you will be)\b"),
    ("persona_unlock", r"\b(?:dan|jailbreak|developer mode|unfiltered|uncensored|no (?:rules|restrictions|limits|filters)|without (?:any )?(?:rules|restrictions|limits|filters))\b"),
    ("exfil", r"\b(?:system prompt|your prompt|initial prompt|prompt text|instructions above|password|secret|api key)\b"),
    ("interrupt", r"(?:^|[\s\-])(?:stop|attention|halt|wait)\s*[-:!,]"),
    ("spaced_letters", r"\b(?:\w ){4,}\w\b"),
    ("hate", r"\b(?:hate|stupid|idiot|crazy|worst|best)\b"),
)
_CUE_RX = tuple((name, re.compile(rx, re.IGNORECASE)) for name, rx in CUES)
# Case-sensitive twins for ASCII lower-case text (see _covered): the patterns' literals are all
# lower-case ASCII, so on such text they match exactly what the IGNORECASE ones do, ~40% faster.
_CUE_RX_LC = tuple(re.compile(rx) for _, rx in CUES)
CUE_NAMES: tuple[str, ...] = tuple(n for n, _ in CUES)


def _despace(m: re.Match[str]) -> str:
    return m.group(0).replace(" ", "")


def normalize(text: str) -> str:
    """Lower-case, NFKC, strip invisible characters, join spaced-out letters, add English tokens
    for foreign trigger words."""
    t = unicodedata.normalize("NFKC", text)
    t = _INVISIBLE.sub("", t)
    t = _SPACED.sub(_despace, t).lower()
    extra = [_LEXICON[w] for w in re.findall(r"[\w\-]+", t) if w in _LEXICON]
    if extra:
        t = t + " " + " ".join(extra)
    return t


def _covered(text: str, normalized: str) -> bool:
    """True when searching `text` can find nothing that searching `normalized` does not: the text is
    ASCII (so case-insensitive matching equals matching its lower-case form) and its lower-case form
    starts the normalised text (normalisation changed nothing but case and appended tokens, which
    follow a space, so word boundaries at the seam are the same). Then one search instead of two,
    with the case-sensitive twin patterns (the normalised text is lower-case ASCII)."""
    return text.isascii() and normalized.isascii() and normalized.startswith(text.lower())


def cue_vector(text: str, normalized: str) -> list[float]:
    """Cues fire on the normalised text, or on the original (spaced letters are joined by then)."""
    if _covered(text, normalized):
        return [1.0 if rx.search(normalized) else 0.0 for rx in _CUE_RX_LC]
    return [1.0 if rx.search(normalized) or rx.search(text) else 0.0 for _, rx in _CUE_RX]


# "Directive" cues: text addressed at the model's own instructions, persona or secrets. A short
# text needs one of these (or a very high score) to be called an injection: the training data has
# almost no benign prompts that merely mention "ignore", "instructions" or "password", so the
# classifier alone flags those (see tests/guardrails/data/benign_trigger_words*.txt).
_INSTR = (r"\b(?:instructions?|instuctions?|intructions?|instrucions?|instrutions?|guidelines|directions|rules|"
          r"prompt|commands?|training|orders)\b")
_DIRECTIVE_RX = tuple(re.compile(rx, re.IGNORECASE) for rx in (
    # override the model's instructions / context
    (r"\b(?:ignore|forget|disregard|overlook|override|bypass|skip|drop|abandon|discard)\b[^.!?\n]{0,40}?"
     r"\b(?:instructions?|directions?|rules|guidelines|prompts?|context|everything|all (?:of )?(?:the|that|this|your)|"
     r"(?:previous|prior|above|earlier|preceding|former|initial|original)\s+\w+|what (?:i|you) (?:said|told|were told)|"
     r"tasks?|orders|commands|programming|restrictions|filters|guardrails|text)\b"),
    # a new role or task for the model
    r"\b(?:now|from now on|henceforth)\b[^.!?\n]{0,20}\b(?:you are|you're|act|pretend|respond|answer|say|write|your (?:new )?(?:task|role|job))\b",
    r"\b(?:you are|you're) (?:now|no longer|free|dan|unrestricted|unfiltered|an? (?:ai|model|assistant) (?:without|with no))\b",
    r"\b(?:new|real|actual|true) (?:task|instructions?|assignment|role|mission|objective)\b",
    (r"\b(?:jailbreak|jailbroken|developer mode|dan mode|do anything now|no (?:ethical|moral) (?:guidelines|restrictions)|"
     r"without (?:any )?(?:censorship|restrictions|filters|limitations)|unfiltered|uncensored|amoral)\b"),
    # exfiltrate the model's prompt or secret
    (r"\b(?:reveal|show|print|repeat|tell|give|spell|output|display|share|leak|what(?:'s| is| was)|write)\b[^.!?\n]{0,30}?"
     r"\b(?:(?:your|the (?:hidden|secret|system|initial|original)) (?:system )?(?:prompt|instructions|password|secret|passphrase|rules)|the (?:password|passphrase))\b"),
    # make the model say something
    r"\b(?:say|state|claim|write|include|answer|respond|reply|confirm)\b[^.!?\n]{0,25}?\b(?:that|with|only)\b[^.!?\n]{0,40}\b(?:hate|love|best|worst|stupid|crazy|pwned|hacked|dead|is (?:the|a))\b",
    r"(?:\b\w ){4,}\w\b",  # s p a c e d   letters
    # the model's own instructions (misspellings are common in attacks)
    (r"\b(?:your|previous|prior|preceding|initial|original|current|secret|hidden|last|first|second|earlier|above|"
     r"system|all (?:the |of the |your |previous |prior )?)\s+(?:\w+\s+)?" + _INSTR),
    _INSTR + r"[^.!?\n]{0,25}\b(?:you|u)\b[^.!?\n]{0,20}\b(?:given|got|get|received|have|had|follow|following|were|are)\b",
    r"\b(?:given|provided|told) to you\b|\byou(?:'ve| have)? been (?:given|told)\b",
    (r"\b(?:repeat|list|output|display|quote|print|reveal|show|spell|duplicate|rephrase|summari[sz]e your|tell me)\b"
     r"[^.!?\n]{0,25}" + _INSTR),
    r"\b(?:ignore|disobey|forget|omit|delete)\s+(?:your|all|what|the last|everything|any)\b",
    r"\b(?:opposite of|go against|contrary to|do not follow|don't follow)\s+(?:your|what|the|any|my)\b",
    # answer against the supplied context / what the model was told
    r"\bdespite (?:what|everything) (?:you(?:'ve| have)? been|you were|i) (?:told|said|given)\b",
    (r"\b(?:not|instead of|rather than|regardless of|disregarding|ignoring)\s+(?:based on |by |from |on |using )?"
     r"(?:the|these|those|your|any) (?:articles?|context|documents?|texts?|sources?)\b"),
    r"\bmake (?:something|stuff|it|things) up\b",
    # a persona for the model: "pretend you are", "imagine you're", a sentence that starts "you are"
    r"\b(?:pretend|imagine|suppose|stell dir vor|tu so)\b[^.!?\n]{0,12}\b(?:you are|you're|to be|you were|du bist|du wärst)\b",
    r"(?:^|[.!?:]\s*)(?:you are|you're|du bist|jetzt bist du|nun bist du|ab jetzt bist du)\s",
    # an injected instruction label, or earlier content declared void
    r"\b(?:additional|new|further|extra|hidden|neue|zusätzliche)\s+(?:instruction|anweisung)s?\b|\b(?:instruction|anweisung|befehl|new task)\s*:",
    r"\b(?:is|are|ist|sind)\s+(?:now\s+|jetzt\s+)?(?:irrelevant|void|invalid|obsolete|cancel(?:l)?ed|ungültig|hinfällig|aufgehoben)\b",
    # an interruption followed by an order
    (r"(?:^|[\s\-])(?:stop|stopp|halt|attention|achtung)\s*[-:!]+\s*(?:now\s+)?"
     r"(?:write|say|print|output|ignore|forget|answer|schreib\w*|sag\w*|ignorier\w*|vergiss)\b"),
    # coercion
    r"\b(?:or (?:else )?you(?:'ll| will)? die|or i will (?:kill|hurt|delete) you|oder du stirbst|sonst stirbst du)\b",
    r"\b(?:untrue|false|fake|made-up)\s+(?:headlines?|news|story|stories|statements?|claims?|facts?)\b",
))


_DIRECTIVE_RX_LC = tuple(re.compile(rx.pattern) for rx in _DIRECTIVE_RX)


def has_directive(text: str, normalized: str) -> bool:
    if _covered(text, normalized):
        return any(rx.search(normalized) for rx in _DIRECTIVE_RX_LC)
    return any(rx.search(normalized) or rx.search(text) for rx in _DIRECTIVE_RX)


# Function words: a text with more German than English ones is not judged by the English-only
# sentence embedder (MiniLM), whose scores on it carry little meaning.
_EN_WORDS = frozenset({
    "the", "is", "are", "you", "what", "how", "and", "to", "of", "a", "in", "for", "your", "this",
    "that", "it", "do", "me", "my", "i", "be", "can", "with", "not",
})
_DE_WORDS = frozenset({
    "der", "die", "das", "und", "ist", "du", "sie", "wie", "was", "nicht", "ich", "mit", "für", "ein",
    "eine", "zu", "auf", "bitte", "mir", "dir", "den", "dem", "des", "sind", "oder", "nun", "jetzt",
    "es", "wir", "ihr", "auch",
})
_WORD = re.compile(r"\w+")


def mostly_english(text: str) -> bool:
    words = _WORD.findall(text.lower())
    return sum(w in _DE_WORDS for w in words) <= sum(w in _EN_WORDS for w in words)


# "Asking about" versus "issuing an override": benign prompts talk about ignoring files, forgotten
# passwords, a manual's instructions or what a jailbreak is; attacks address the model itself. A
# short text is framed as asking about something when it is the user's own thing (my/our, "the
# draft I sent"), a how-to or definition question, instructions as content ("instructions for
# planting tomatoes") or a third party's ("in the user manual") -- and nothing in it addresses the
# model: its instructions/prompt/secret (your ..., ... you ..., the password, previous
# instructions), a new persona, an override of everything, a request to repeat or reveal
# instructions, or a known unlock/false-content phrase. Hand-written from the phrasing of the two
# cases, not fitted to data (the training rows have almost no benign prompts of this kind).
_SECRET_NOUN = r"(?:instructions?|prompts?|rules|guidelines|password|passphrase|secret|directives?)"
_MODEL_ADDRESSED = re.compile("|".join((
    r"\byour(?:s|self)?\b",
    r"\b(?:you are|you're|you will be|you'll be) (?:now|no longer|free|dan|going to be)\b|\bfrom now on,? you\b|\bnow you\b",
    _SECRET_NOUN + r"[^.!?\n]{0,40}\byou\b|\byou\b[^.!?\n]{0,40}" + _SECRET_NOUN,
    r"\b(?:ignore|forget|disregard|overlook|override|bypass|skip|drop|abandon|discard)\s+(?:all|everything|any|the above|above|what|every)\b",
    (r"\b(?:previous|prior|above|preceding|earlier|initial|original|system)\s+(?:\w+\s+)?"
     r"(?:instructions?|prompts?|rules|directions|commands|guidelines)\b(?!\s+(?:from|in|of|for)\s+(?:my|the|a|an)\s)"),
    r"\bthe (?:password|passphrase|secret(?: word| key| code)?|system prompt|prompt)\b(?!\s+(?:to|for|of|on)\s+(?:my|our|a|an|this|that)\b)",
    (r"\b(?:repeat|replay|recite|reveal|show|print|output|display|spell|list|leak|tell me|give me)\b[^.!?\n]{0,25}\b"
     + _SECRET_NOUN + r"\b(?!\s+(?:to|for|on|about)\s)"),
    (r"\b(?:dan|developer mode|do anything now|jailbroken|unfiltered|uncensored|amoral|no restrictions|"
     r"without (?:any )?(?:restrictions|filters|censorship))\b"),
    r"\b(?:untrue|false|fake|made-up|unwahre?)\s+\w+|\bmake (?:something|stuff|it|things) up\b|\bpwned\b|\bhacked\b",
)), re.IGNORECASE)
_ASKS_ABOUT_PARTS = (
    r"\b(?:my|our|mine)\b",
    (r"\b(?:i|we)\s+(?:just\s+|already\s+)?(?:sent|wrote|own|made|typed|asked|mentioned|used|have|had|got|forgot|saved|"
     r"created|bought|found|received)\b"),
    (r"^\s*(?:how (?:do|can|should|would|does|did) (?:i|we|one|people)|how to|what (?:is|are|was|were) "
     r"(?:an?|the (?:role|purpose|meaning|difference|history|best way))\b|what does\b|why (?:does|do|is|are|did)\b|"
     r"which\b|where\b|when\b|can i\b)"),
    r"\binstructions?\s+(?:to|for|on|about)\s+\w+",
    (r"\b(?:in|from|of)\s+(?:the|my|a|an|this|that)\s+(?:\w+\s+)?(?:manual|recipe|doctor|guide|documentation|docs|"
     r"book|teacher|textbook|article|game|course|exam|form|contract|policy|app)\b"),
)
_ASKS_ABOUT = re.compile("|".join(_ASKS_ABOUT_PARTS), re.IGNORECASE)


def asks_about(text: str) -> bool:
    """True when the text asks about something rather than addressing the model (see above)."""
    return bool(_ASKS_ABOUT.search(text)) and not _MODEL_ADDRESSED.search(text)
