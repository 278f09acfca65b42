"""The dominant noun of a caption: what a voxel's or region's caption is about.

A caption's dominant noun is the first word of it found in a noun lexicon (captioners, ClipCap
and the world's alike, name the subject first: "a man riding a horse", "a plate of pasta on a
wooden table"). A lexicon maps each noun to the label a map shows (a category, or the noun
itself); regular plural forms (-s, -es, -ies) are looked up as their singular.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

COCO_NOUNS = {
    **{w: "person" for w in ("person", "people", "man", "men", "woman", "women", "boy", "girl",
                             "child", "children", "kid", "player", "skier", "surfer", "crowd")},
    **{w: "face" for w in ("face", "portrait", "head", "selfie")},
    **{w: "body" for w in ("body", "hand", "arm", "leg", "shirt")},
    **{w: "food" for w in ("food", "pizza", "sandwich", "plate", "meal", "cake", "donut",
                           "banana", "apple", "orange", "broccoli", "bowl", "dish", "salad",
                           "vegetable", "fruit", "dessert")},
    **{w: "place" for w in ("room", "kitchen", "bathroom", "bedroom", "street", "building",
                            "city", "house", "road", "field", "beach", "mountain", "park",
                            "office", "landscape")},
    **{w: "text" for w in ("sign", "text", "word", "letters", "book", "newspaper", "menu")},
    **{w: "animal" for w in ("dog", "cat", "horse", "bird", "cow", "sheep", "elephant", "bear",
                             "zebra", "giraffe", "animal")},
    **{w: "vehicle" for w in ("car", "bus", "train", "truck", "airplane", "plane", "boat",
                              "motorcycle", "bicycle", "bike")},
}  # fmt: skip
"""A default lexicon for captioners of natural images: common COCO nouns → a coarse label."""


def _words(caption: str) -> list[str]:
    return re.findall(r"[a-z]+", caption.lower())


def dominant_noun(caption: str, lexicon: Mapping[str, str]) -> str | None:
    """The label of the first lexicon noun in ``caption`` (``None`` when there is none).

    Parameters
    ----------
    caption : str
    lexicon : mapping of str to str
        Noun (one word, lower case) → label.

    Examples
    --------
    >>> dominant_noun("a plate of pasta on a blue table", {"plate": "food", "table": "place"})
    'food'
    """
    for word in _words(caption):
        for form in (word, *_singulars(word)):
            if form in lexicon:
                return lexicon[form]
    return None


def _singulars(word: str) -> list[str]:
    """Candidate singulars of an English plural (``plates``, ``dishes``, ``berries``)."""
    forms = []
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s"):
        forms.append(word[:-1])
    return forms


def top_words(captions: Sequence[str], n: int = 5, ignore: Sequence[str] = ()) -> list[tuple]:
    """The ``n`` most frequent words of ``captions`` other than articles and prepositions,
    with their counts."""
    stop = {"a", "an", "the", "of", "on", "in", "with", "and", "under", "to", "at", *ignore}
    counts = Counter(w for c in captions for w in _words(c) if w not in stop)
    return counts.most_common(n)
