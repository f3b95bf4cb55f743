"""Merge uv-user's settings into uv's system configuration without clobbering it.

containerEnv cannot depend on options, so option-dependent uv behaviour goes to
/etc/uv/uv.toml, which uv reads for every user. Lines uv-user writes carry a
marker; only those are ever rewritten or removed. A key the user (or another
feature) already set is left alone, since their choice is the more specific one.
There is no TOML parser in the 3.8 standard library, so this works on lines and
only ever touches top-level ``key = value`` lines.

uv refuses a file with a key it does not know, and has renamed keys (``native-tls``
became ``system-certs``), so :func:`candidates` gives every text worth trying, in
order: the plan carries them, and apply writes the first the installed uv accepts.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

MARKER = "# managed by uv-user"
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")
_TABLE = re.compile(r"^\s*\[")


def top_level_keys(text: str) -> Dict[str, bool]:
    """Top-level keys → whether uv-user wrote them (marker present)."""
    keys: Dict[str, bool] = {}
    for line in text.splitlines():
        if _TABLE.match(line):
            break
        match = _KEY.match(line)
        if match:  # ours only if every occurrence carries the marker
            key = match.group(1)
            keys[key] = keys.get(key, True) and line.rstrip().endswith(MARKER)
    return keys


def candidates(existing: str, wanted: Dict[str, Optional[str]],
               aliases: Sequence[Sequence[str]] = ()) -> Tuple[List[str], List[str]]:
    """The texts to try, in order, and the notes: :func:`merge` once per spelling (:func:`spellings`),
    each distinct text once. Only uv-user's own lines differ between them."""
    texts: List[str] = []
    notes: List[str] = []
    for spelling in spellings(wanted, aliases):
        text, found = merge(existing, spelling, aliases)
        notes = notes or found
        if text not in texts:
            texts.append(text)
    return texts, notes


def spellings(wanted: Dict[str, Optional[str]],
              aliases: Sequence[Sequence[str]]) -> List[Dict[str, Optional[str]]]:
    """``wanted`` as named, then with each aliased key spelled the next way its group lists (an older uv's)."""
    groups = [tuple(g) for g in aliases if any(k in wanted for k in g)]
    rounds = max((len(g) for g in groups), default=1)
    found: List[Dict[str, Optional[str]]] = []
    for i in range(rounds):
        spelled: Dict[str, Optional[str]] = {}
        for key, value in wanted.items():
            group = next((g for g in groups if key in g), (key,))
            spelled[key if i == 0 else group[min(i, len(group) - 1)]] = value
        found.append(spelled)
    return found


def merge(existing: str, wanted: Dict[str, Optional[str]],
          aliases: Sequence[Sequence[str]] = ()) -> Tuple[str, List[str]]:
    """New file text and notes. ``wanted`` maps key → TOML value, or None to drop our line.

    ``aliases`` groups keys uv treats as one setting (``system-certs``/``native-tls``):
    a user-set alias counts as the user having set the key.
    """
    notes: List[str] = []
    ours_or_absent = {}
    present = top_level_keys(existing)
    for key in wanted:
        group = next((g for g in aliases if key in g), (key,))
        foreign = [k for k in group if k in present and not present[k]]
        if foreign:
            notes.append("kept {} = ... already set in {} (not by uv-user)".format(foreign[0], "uv.toml"))
        ours_or_absent[key] = not foreign
    owned = set(k for g in aliases for k in g if any(k2 in wanted for k2 in g)) | set(wanted)
    kept: List[str] = []
    in_tables = False
    for line in existing.splitlines():
        in_tables = in_tables or bool(_TABLE.match(line))
        match = None if in_tables else _KEY.match(line)
        if match and line.rstrip().endswith(MARKER) and match.group(1) in owned:
            continue  # ours: rewritten below (or dropped)
        kept.append(line)
    added = [
        "{} = {}  {}".format(key, value, MARKER)
        for key, value in wanted.items()
        if value is not None and ours_or_absent[key]
    ]
    # Top-level keys must precede the first [table]: put ours first.
    lines = added + kept
    text = "\n".join(lines).strip("\n")
    return (text + "\n" if text else ""), notes
