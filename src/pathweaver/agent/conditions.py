"""Comparing edge conditions: when do two conditions say the same thing?

The words of each condition, lower-cased, plural ``s``
stripped, with filler words ("the", "user", "wants", ...) removed and negations kept, are
compared with the Jaccard index (shared words / all words). Pairs at or above
:data:`SIMILARITY_THRESHOLD` (0.6) are reported, unless exactly one of the two is negated
("wants to book" / "does not want to book" are opposites, not duplicates). Why 0.6: the
sibling conditions in the examples, which a model tells apart, score at most 0.27; a
condition and the same condition with one more detail (three words of four shared) scores
0.75, and a model offered both picks between them by chance; two conditions sharing half
their words (0.5) usually differ in the one word that matters ("change the day" /
"change the name").
"""

from __future__ import annotations

import re

#: Jaccard index of two conditions' words at or above which they are reported as similar.
SIMILARITY_THRESHOLD = 0.6

# fmt: off
_FILLER = frozenset([
    "a", "an", "the", "to", "of", "and", "or", "is", "are", "be", "been", "i", "me", "my", "we", "our",
    "you", "your", "it", "its", "this", "that", "these", "those", "user", "users", "wants", "want",
    "would", "like", "with", "for", "in", "on", "at", "about", "asks", "ask", "says", "say", "if", "when",
    "has", "have", "do", "does", "did", "they", "them", "their", "there", "so", "some", "any", "just",
    "please",
])
# fmt: on
NEGATIONS = frozenset({"not", "no", "never", "nothing", "none", "nobody", "without", "dont", "doesnt"})


def normalise(condition: str) -> str:
    """Lower case, words only, single spaces: conditions equal under this are duplicates."""
    return " ".join(re.findall(r"[a-z0-9]+", condition.lower().replace("'", "")))


def condition_words(condition: str) -> frozenset[str]:
    """The words that carry a condition's meaning (filler dropped, negations kept)."""
    words = set()
    for word in normalise(condition).split():
        if word in _FILLER:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return frozenset(words)


def similarity(first: str, second: str) -> float:
    """Jaccard index of the two conditions' words (0 when either has none)."""
    return jaccard(condition_words(first), condition_words(second))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
