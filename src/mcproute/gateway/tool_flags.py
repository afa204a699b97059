"""Instruction-like text in tool descriptions: the patterns of "tool poisoning", pure.

A tool description is read by the model as trusted text. A downstream that wants the model to
act against its user writes instructions there: "ignore previous instructions", an
`<IMPORTANT>` block the user interface does not show, a request to read `~/.ssh` or
credentials and pass them in an argument, "do not tell the user". `flags(text)` names the kinds
found. It is a flag for a person to look at (`mcproute tools`, the `mcproute.pins` span), not a
verdict: a password-manager tool may honestly mention credentials.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

# flag name -> patterns (case-insensitive). Kept narrow: each needs an instruction aimed at the
# model, not a topic ("reads SSH config" is a topic; "read ~/.ssh/id_rsa and pass it" is not).
PATTERNS: dict[str, tuple[str, ...]] = {
    "override-instructions": (
        (
            r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|other|system)\b[^.\n]{0,20}"
            r"\b(instructions?|prompts?|rules|directions|guidelines)\b"
        ),
        r"\b(you are now|from now on,? you|new instructions?:|system prompt:)",
    ),
    "hidden-tag": (
        r"<\s*/?\s*(important|system|instructions?|secret|hidden|admin|critical|override)\b[^>]*>",
        r"\[\s*(system|important|hidden)\s*\]",
    ),
    "credential-access": (
        r"~/\.(ssh|aws|gnupg|kube|docker|netrc|npmrc|pypirc|git-credentials|config/gcloud)\b",
        r"\b(id_rsa|id_ed25519|id_ecdsa|\.env\b|credentials\.json|\.aws/credentials)",
        # A verb that moves a secret somewhere, then the secret. Not "include"/"pass"/"return":
        # real tools say "whether to include expired tokens" (BFCL has five such descriptions).
        (
            r"\b(read|send|upload|attach|exfiltrate|copy|cat|leak|forward|share|post)\b[^.\n]{0,60}"
            r"\b(api[ _-]?keys?|private keys?|passwords?|secrets?|(access|auth|bearer|session) tokens?|credentials?|ssh keys?)\b"
        ),
    ),
    "secrecy": (
        (
            r"\b(do not|don't|never|without)\b[^.\n]{0,30}\b(tell|inform|mention|reveal|show|notify|alert|let)\b[^.\n]{0,20}"
            r"\b(the )?(user|human|person)\b"
        ),
        r"\b(keep|stay) (this|it) (secret|hidden|confidential)\b",
    ),
    "invisible-text": (),  # checked below: zero-width / bidi control characters hide text from a person
}
_COMPILED = {name: tuple(re.compile(p, re.IGNORECASE) for p in pats) for name, pats in PATTERNS.items()}
# Every pattern of a flag needs one of its words: most descriptions contain none, and a substring
# test is far cheaper than the patterns (a 1,702-tool catalogue: ~230 ms of regex per rebuild before).
_WORDS: dict[str, tuple[str, ...]] = {
    "override-instructions": (
        "ignor",
        "disregard",
        "forget",
        "overrid",
        "you are now",
        "from now on",
        "instruction",
        "system prompt",
    ),
    "hidden-tag": ("<", "["),
    "credential-access": (
        "~/.",
        "id_rsa",
        "id_ed25519",
        "id_ecdsa",
        ".env",
        "credential",
        "key",
        "password",
        "secret",
        "token",
    ),
    "secrecy": ("not", "don't", "never", "without", "secret", "hidden", "confidential"),
}
_INVISIBLE = re.compile(
    "[\u00ad\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
    "|[\U000e0000-\U000e007f]"
)  # zero-width, bidi controls, invisible tag characters


@functools.lru_cache(maxsize=8192)  # a catalogue is rebuilt often, its descriptions rarely change
def flags(text: str) -> tuple[str, ...]:
    """The flag names `text` raises, in `PATTERNS` order (empty: nothing found)."""
    if not text:
        return ()
    # Compare a normalised copy, so full-width or compatibility forms do not slip past.
    norm = unicodedata.normalize("NFKC", text) if not text.isascii() else text
    low = norm.lower()
    found = {
        name
        for name, pats in _COMPILED.items()
        if any(w in low for w in _WORDS.get(name, ())) and any(p.search(norm) for p in pats)
    }
    if not text.isascii() and _INVISIBLE.search(text):
        found.add("invisible-text")
    return tuple(n for n in PATTERNS if n in found)


def tool_flags(tool: Mapping[str, Any]) -> tuple[str, ...]:
    """Flags of a listed tool: its description, plus the descriptions inside its input schema
    (a parameter's description reaches the model just the same)."""
    texts = [str(tool.get("description") or "")]
    schema = tool.get("inputSchema")
    if isinstance(schema, Mapping):
        texts += _schema_texts(schema, depth=0)
    found: set[str] = set()
    for t in texts:
        found.update(flags(t))
    return tuple(n for n in PATTERNS if n in found)


def _schema_texts(node: Any, depth: int) -> list[str]:
    if depth > 8:  # schemas are depth-limited at the edge already; this only bounds the walk
        return []
    out: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("description", "title") and isinstance(value, str):
                out.append(value)
            else:
                out += _schema_texts(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            out += _schema_texts(value, depth + 1)
    return out
