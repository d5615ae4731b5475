"""Text features -> derived numeric and categorical features a drift check can compare.

A text feature ``name`` (a prompt, a generated answer) becomes:

- ``name.chars``: length in Unicode code points;
- ``name.words``: whitespace-separated words (``len(text.split())``);
- ``name.tokens``: an approximate BPE token count, ``floor(max(words * 4/3, chars / 4)
  + 0.5)``: the usual rules of thumb for English with GPT-style tokenizers (about 3/4 of a
  word, or 4 characters, per token), the larger of the two so that text without spaces
  (code, URLs, CJK) is not undercounted;
- ``name.non_ascii``: the share of code points above U+007F (0 for an empty text);
- ``name.empty``: ``"true"`` when the text is empty or only whitespace, else ``"false"``;
- ``name.refusal``: ``"true"`` when the text contains one of ``REFUSAL_PHRASES`` as
  whole words (case-insensitive, either apostrophe, any run of whitespace between words).

A missing text (None) is missing in every derived feature: NaN, or None.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np

REFUSAL_PHRASES = (
    "I can't help with",
    "I cannot help with",
    "I can't assist",
    "I cannot assist",
    "I'm sorry, but",
    "I am sorry, but",
    "as an AI language model",
    "I am unable to",
    "I'm unable to",
)
NUMERIC_SUFFIXES = ("chars", "words", "tokens", "non_ascii")
CATEGORICAL_SUFFIXES = ("empty", "refusal")


def _phrase_pattern(phrase: str) -> str:
    words = [re.escape(w).replace("'", "['’]") for w in phrase.split()]
    return r"\b" + r"\s+".join(words) + r"\b"


@functools.cache
def refusal() -> re.Pattern[str]:
    """Compiled at first use: 24 ms of cold start a handler that reads no text need not pay."""
    return re.compile("|".join(_phrase_pattern(p) for p in REFUSAL_PHRASES), re.IGNORECASE)


def approx_tokens(chars: int, words: int) -> int:
    """The token estimate of the module docstring."""
    return math.floor(max(words * 4 / 3, chars / 4) + 0.5)


def derive(
    name: str, texts: list[str | None]
) -> tuple[dict[str, np.ndarray], dict[str, list[str | None]]]:
    """(numeric, categorical) derived features of ``name``, one value per text."""
    n = len(texts)
    chars = np.full(n, np.nan)
    words = np.full(n, np.nan)
    tokens = np.full(n, np.nan)
    non_ascii = np.full(n, np.nan)
    empty: list[str | None] = [None] * n
    refused: list[str | None] = [None] * n
    pattern = refusal()
    for i, text in enumerate(texts):
        if text is None:
            continue
        c = len(text)
        w = len(text.split())
        chars[i] = c
        words[i] = w
        tokens[i] = approx_tokens(c, w)
        if text.isascii():
            non_ascii[i] = 0.0
        else:
            non_ascii[i] = (c - len(text.encode("ascii", "ignore"))) / c
        empty[i] = "true" if w == 0 else "false"
        refused[i] = "true" if pattern.search(text) else "false"
    numeric = {
        f"{name}.chars": chars,
        f"{name}.words": words,
        f"{name}.tokens": tokens,
        f"{name}.non_ascii": non_ascii,
    }
    return numeric, {f"{name}.empty": empty, f"{name}.refusal": refused}
