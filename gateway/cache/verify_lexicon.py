"""Word lists for gateway/cache/verify.py (English). Data only; extend here, not in the rules."""

from __future__ import annotations


def _forms(*stems: str) -> tuple[str, ...]:
    """Common inflections of each word: enable -> enable(s|d), enabling; 'turn on' stays a phrase."""
    out: list[str] = []
    for s in stems:
        out.append(s)
        if " " in s:
            continue
        out += [s + "s", s + "ed", s + "ing", s + "d"]
        if s.endswith("e"):
            out += [s[:-1] + "ing", s[:-1] + "ed"]
        if s.endswith("y"):
            out += [s[:-1] + "ies", s[:-1] + "ied"]
    return tuple(dict.fromkeys(out))


NUMBER_WORDS = {
    "zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13",
    "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18",
    "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
    "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000",
    "million": "1e+06", "billion": "1e+09", "dozen": "12", "twice": "2", "double": "2", "triple": "3",
    "half": "0.5", "quarter": "0.25",
    # "one" is left out on purpose: "which one", "one file" rarely carry a number's meaning.
}
ORDINALS = {"first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6",
            "seventh": "7", "eighth": "8", "ninth": "9", "tenth": "10"}
ROMAN = {"I": "1", "II": "2", "III": "3", "IV": "4", "V": "5", "VI": "6", "VII": "7", "VIII": "8",
         "IX": "9", "X": "10", "XI": "11", "XII": "12"}

NEGATIONS = frozenset({"not", "no", "never", "without", "none", "nothing", "nobody", "neither", "nor",
                       "cannot", "cant", "dont", "doesnt", "isnt", "wont", "unable", "fail", "fails",
                       "failing", "lacking", "non"})

# Groups of words whose sides give different answers. Lenient rule in verify.py: reject when one
# text uses only side A and the other uses side B (a text using neither side constrains nothing).
POLAR_GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (_forms("enable", "activate", "turn on", "switch on", "allow", "unblock", "unmute", "show"),
     _forms("disable", "deactivate", "turn off", "switch off", "block", "deny", "mute", "hide")),
    (_forms("increase", "raise", "grow", "maximize", "maximise", "expand", "enlarge", "speed up", "zoom in"),
     _forms("decrease", "reduce", "shrink", "minimize", "minimise", "lower", "slow down", "zoom out")),
    (_forms("add", "insert", "append", "create", "install", "attach"),
     _forms("remove", "delete", "drop", "uninstall", "detach", "erase")),
    (("before", "prior to", "pre"), ("after", "post", "afterwards")),
    (("ascending", "asc", "increasing order", "smallest to largest", "lowest to highest"),
     ("descending", "desc", "decreasing order", "largest to smallest", "highest to lowest")),
    (("maximum", "max", "most", "highest", "largest", "biggest", "greatest", "longest", "tallest",
      "upper"), ("minimum", "min", "least", "lowest", "smallest", "fewest", "shortest", "lower")),
    (("bigger", "larger", "greater", "more", "higher", "longer", "taller", "heavier", "faster", "older",
      "above", "over"), ("smaller", "less", "fewer", "lower", "shorter", "lighter", "slower", "younger",
                         "below", "under")),
    (("high",), ("low",)),
    (("first", "earliest", "oldest", "beginning", "start of"), ("last", "latest", "newest", "end of")),
    (_forms("start", "begin", "launch", "resume"), _forms("stop", "end", "kill", "terminate", "pause", "halt")),
    (_forms("open"), _forms("close", "shut")),
    (_forms("lock"), _forms("unlock")),
    (_forms("encrypt", "encode", "compress", "serialize", "serialise", "zip"),
     _forms("decrypt", "decode", "decompress", "deserialize", "deserialise", "unzip")),
    (_forms("upload", "push", "send", "export", "write", "save"),
     _forms("download", "pull", "receive", "import", "read", "load")),
    (_forms("buy", "purchase", "import"), _forms("sell", "export")),
    (("uppercase", "upper case", "capital letters", "capitalize", "capitalise"),
     ("lowercase", "lower case", "small letters")),
    (("advantage", "advantages", "pro", "pros", "benefit", "benefits", "good", "better", "best", "healthy"),
     ("disadvantage", "disadvantages", "con", "cons", "drawback", "drawbacks", "bad", "worse", "worst",
      "unhealthy")),
    (("horizontally", "horizontal", "row", "rows"), ("vertically", "vertical", "column", "columns")),
    (("local", "locally"), ("remote", "remotely")),
    (("public",), ("private",)),
    (("soft", "runny"), ("hard", "firm")),
    (("north", "northern"), ("south", "southern")),
    (("east", "eastern"), ("west", "western")),
    (("input",), ("output",)),
    (("client", "client-side"), ("server", "server-side")),
    (("synchronous", "sync", "synchronously"), ("asynchronous", "async", "asynchronously")),
    (("positive",), ("negative",)),
    (("odd",), ("even",)),
    (("hot", "warm"), ("cold", "cool")),
    (("time complexity",), ("space complexity",)),
    (("true",), ("false",)),
    (("male", "men", "man"), ("female", "women", "woman")),
    (("morning",), ("evening", "night")),
    (("summer",), ("winter",)),
    (("left",), ("right",)),
    (("inner",), ("outer",)),
    (("import",), ("export",)),
    (("login", "log in", "sign in"), ("logout", "log out", "sign out")),
    (("subscribe",), ("unsubscribe",)),
    (("follow",), ("unfollow",)),
    (("include", "including"), ("exclude", "excluding")),
    (("accept",), ("reject",)),
    (("win", "won", "winner"), ("lose", "lost", "loser")),
)

WH = frozenset({"who", "whom", "whose", "when", "where", "why"})
DIRECTIONAL = frozenset({"from", "to", "into", "than", "toward", "towards", "via", "vs", "versus"})

# Canonical units; AMBIGUOUS_UNITS count only right after a number ("5 m", not "m" the letter).
UNITS: dict[str, str] = {}
for canon, words in {
    "km": ("km", "kms", "kilometer", "kilometers", "kilometre", "kilometres"),
    "mi": ("mi", "mile", "miles"),
    "m": ("m", "meter", "meters", "metre", "metres"),
    "cm": ("cm", "centimeter", "centimeters", "centimetre", "centimetres"),
    "mm": ("mm", "millimeter", "millimeters", "millimetre", "millimetres"),
    "in": ("inch", "inches"),
    "ft": ("ft", "foot", "feet"),
    "yd": ("yd", "yard", "yards"),
    "kg": ("kg", "kgs", "kilogram", "kilograms", "kilo", "kilos"),
    "g": ("g", "gram", "grams", "gr"),
    "lb": ("lb", "lbs", "pound", "pounds"),
    "oz": ("oz", "ounce", "ounces"),
    "l": ("l", "liter", "liters", "litre", "litres"),
    "ml": ("ml", "milliliter", "milliliters", "millilitre", "millilitres"),
    "gal": ("gal", "gallon", "gallons"),
    "qt": ("qt", "quart", "quarts"),
    "cup": ("cup", "cups"),
    "tbsp": ("tbsp", "tablespoon", "tablespoons"),
    "tsp": ("tsp", "teaspoon", "teaspoons"),
    "c": ("c", "celsius", "centigrade"),
    "f": ("f", "fahrenheit"),
    "k": ("kelvin",),
    "usd": ("usd", "dollar", "dollars", "$"),
    "eur": ("eur", "euro", "euros", "€"),
    "gbp": ("gbp", "sterling", "£"),
    "jpy": ("jpy", "yen"),
    "mph": ("mph",),
    "kph": ("kph", "km/h"),
    "h": ("hour", "hours", "hr", "hrs", "h"),
    "min": ("minute", "minutes", "min", "mins"),
    "s": ("second", "seconds", "sec", "secs", "s"),
    "day": ("day", "days", "daily"),
    "week": ("week", "weeks", "weekly"),
    "month": ("month", "months", "monthly"),
    "year": ("year", "years", "yearly", "annual", "annually"),
    "meal": ("meal", "meals"),
    "kb": ("kb", "kilobyte", "kilobytes"),
    "mb": ("mb", "megabyte", "megabytes"),
    "gb": ("gb", "gigabyte", "gigabytes"),
    "tb": ("tb", "terabyte", "terabytes"),
    "%": ("%", "percent", "percentage"),
    "cal": ("calorie", "calories", "kcal", "cal"),
}.items():
    for w in words:
        UNITS[w] = canon
AMBIGUOUS_UNITS = frozenset({"m", "g", "l", "c", "f", "s", "h", "in", "min", "gr", "cal", "second",
                             "day", "daily", "year", "week", "hour", "minute", "month"})

# Capitalised words that are sentence openers or question words, not names.
COMMON_STARTS = frozenset(["what", "what's", "whats", "which", "who", "who's", "whose", "when", "where", "why", "how", "how's", "is", "are", "was", "were", "do", "does", "did", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "please", "hey", "hi", "hello", "ok", "okay", "so", "and", "but", "or", "also", "then", "quick", "quickly", "briefly", "explain", "describe", "define", "tell", "give", "show", "list", "name", "recommend", "suggest", "write", "translate", "convert", "calculate", "compute", "find", "help", "create", "make", "generate", "provide", "summarize", "summarise", "compare", "in", "at", "on", "for", "with", "by", "from", "to", "of", "a", "an", "the", "this", "that", "these", "those", "my", "our", "your", "their", "it", "its", "there", "here", "i", "i'm", "i'd", "i've", "any", "some", "every", "each", "all", "just", "really", "actually", "now", "today", "yes", "no", "not"])
NOT_ENTITIES = frozenset({"i", "i'm", "i'd", "i've", "i'll", "ok", "a", "e.g", "i.e"})

# Names people often type in lower case; compared like capitalised names.
LOWERCASE_NAMES = frozenset(["python", "javascript", "js", "typescript", "ts", "java", "kotlin", "swift", "rust", "golang", "ruby", "php", "perl", "scala", "haskell", "c++", "c#", "bash", "zsh", "powershell", "sql", "mysql", "postgres", "postgresql", "sqlite", "mongodb", "redis", "git", "github", "gitlab", "docker", "kubernetes", "k8s", "linux", "ubuntu", "debian", "windows", "macos", "mac", "ios", "android", "chrome", "firefox", "safari", "pandas", "numpy", "react", "vue", "angular", "django", "flask", "node", "node.js", "npm", "pip", "conda", "aws", "s3", "gcp", "azure", "vim", "emacs"])

STOPWORDS = frozenset(["a", "about", "above", "across", "after", "again", "against", "all", "almost", "alone", "along", "already", "also", "although", "always", "am", "among", "an", "and", "another", "any", "anyone", "anything", "anywhere", "are", "around", "as", "at", "be", "became", "because", "become", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "done", "down", "during", "each", "either", "else", "enough", "even", "ever", "every", "for", "from", "get", "gets", "getting", "give", "go", "going", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "however", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "least", "less", "like", "made", "make", "many", "may", "me", "might", "mine", "more", "most", "much", "must", "my", "myself", "need", "no", "nor", "not", "now", "of", "off", "often", "on", "once", "one", "only", "onto", "or", "other", "our", "out", "over", "own", "per", "please", "quite", "rather", "really", "same", "see", "she", "should", "so", "some", "something", "still", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "though", "through", "thus", "to", "too", "under", "until", "up", "upon", "us", "use", "used", "using", "very", "via", "was", "way", "we", "well", "were", "what", "what's", "whats", "when", "where", "whether", "which", "while", "who", "whom", "whose", "why", "will", "with", "within", "without", "would", "yet", "you", "your", "yours", "how's", "who's", "it's", "i'm", "i'd", "i've", "can't", "don't", "doesn't", "isn't", "won't", "tell", "explain", "show", "want", "know"])

# Spellings of the same name, compared as one.
ALIASES = {"js": "javascript", "ts": "typescript", "k8s": "kubernetes", "postgres": "postgresql",
           "golang": "go", "py": "python", "osx": "macos", "node": "node.js", "nodejs": "node.js",
           "dict": "dictionary", "dicts": "dictionary", "env": "environment", "repo": "repository",
           "config": "configuration", "db": "database", "doc": "document", "docs": "documentation"}

# Single-word swaps that keep the answer (checked by the content-swap rule).
SYNONYMS = frozenset(frozenset(p) for p in [
    ("biggest", "largest"), ("big", "large"), ("quit", "exit"), ("delete", "remove"), ("fast", "quick"),
    ("fast", "quickly"), ("dict", "dictionary"), ("dicts", "dictionary"), ("make", "create"),
    ("start", "begin"), ("car", "automobile"), ("picture", "photo"), ("image", "picture"),
    ("function", "method"), ("folder", "directory"), ("error", "exception"), ("tallest", "highest"),
    ("show", "display"), ("program", "script"), ("fix", "solve"), ("shortcut", "hotkey"),
    ("movie", "film"), ("buy", "purchase"), ("doctor", "physician"), ("kid", "child"),
    ("children", "kids"), ("sofa", "couch"), ("rename", "move"), ("repo", "repository"),
])

# Single words of each polar side (for "same side" synonym checks): "turn on" contributes "turn".
POLAR_WORDS = tuple(
    (frozenset(w.split()[0] for w in a), frozenset(w.split()[0] for w in b)) for a, b in POLAR_GROUPS)

# Words that phrase a request rather than name its object: swapping one for another
# ("Who wrote X" / "Who is the author of X") keeps the answer.
FRAME_WORDS = frozenset(["way", "best", "good", "command", "syntax", "formula", "calculate", "compute", "find", "check", "see", "view", "get", "show", "display", "tell", "say", "translate", "wrote", "write", "author", "suggest", "recommend", "define", "set", "make", "create", "use", "steps", "method", "code", "explain", "describe", "meaning", "mean", "definition", "list", "give", "provide", "need", "want", "learn", "know", "guide", "tutorial", "example", "instruction", "instructions", "difference", "differ", "work", "works", "purpose", "used"])
