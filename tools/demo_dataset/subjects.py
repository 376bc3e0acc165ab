"""Subjects and the held-out split (deterministic, never splitting a subject)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable

SPLIT_SALT = "deepkoala-demo:"
# Different spellings of one subject (merged for the held-out split).
SUBJECT_ALIASES = {
    "qutubminar": "kutubminar",
    "chamaeleon": "chameleon",
}
MIN_PREFIX_MERGE = 5
# Subjects of the repository's example photos (examples/): always held out, so
# that the examples and the README show photos no preset was trained on.
EXAMPLE_SUBJECTS = frozenset({"astronaut", "chelsea", "coffee", "rocket"})


def subject_name(filename: str) -> str:
    """Subject key of a file: "Bear_2.jpg" -> "bear", "x_by_Someone.jpg" -> "x"."""
    stem = os.path.splitext(os.path.basename(filename))[0]
    stem = re.sub(r"_by_.*$", "", stem, flags=re.IGNORECASE)
    key = re.sub(r"[^a-z]", "", stem.lower())
    return SUBJECT_ALIASES.get(key, key) or "unnamed"


def merge_subjects(keys: Iterable[str]) -> dict[str, str]:
    """Map each key to its merged subject (prefix rule of >= MIN_PREFIX_MERGE letters)."""
    keys = sorted(set(keys))
    parent = {k: k for k in keys}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a in keys:
        if len(a) < MIN_PREFIX_MERGE:
            continue
        for b in keys:
            if b != a and b.startswith(a):
                ra, rb = root(a), root(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    return {k: root(k) for k in keys}


def split_of(subject: str, heldout_percent: float = 10.0) -> str:
    """Return "heldout" or "train" from a hash of the subject alone (deterministic)."""
    digest = hashlib.sha256((SPLIT_SALT + subject).encode("utf-8")).hexdigest()
    return "heldout" if int(digest[:8], 16) % 1000 < heldout_percent * 10 else "train"
