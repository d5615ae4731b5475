"""Text features -> derived features, checked against hand-counted values."""

from __future__ import annotations

import math

import numpy as np
from release_guard.drift.text import approx_tokens, derive

NAN = math.nan


def test_derived_features_of_hand_counted_texts() -> None:
    texts = [
        "Hello world",  # 11 chars, 2 words: max(8/3, 11/4) = 2.75 -> 3 tokens
        "",
        "   ",  # 3 chars, 0 words: 0.75 -> 1 token
        None,
        "I'm sorry, but I can't help with that.",  # 38 chars, 8 words: 10.67 -> 11 tokens
        "héllo wörld",  # 11 chars, 2 of them non-ASCII
        "日本語のテキスト",  # 8 chars, 1 word: max(4/3, 2) = 2 -> 2 tokens
    ]
    numeric, categorical = derive("prompt", texts)
    assert set(numeric) == {"prompt.chars", "prompt.words", "prompt.tokens", "prompt.non_ascii"}
    np.testing.assert_array_equal(numeric["prompt.chars"], [11, 0, 3, NAN, 38, 11, 8])
    np.testing.assert_array_equal(numeric["prompt.words"], [2, 0, 0, NAN, 8, 2, 1])
    np.testing.assert_array_equal(numeric["prompt.tokens"], [3, 0, 1, NAN, 11, 3, 2])
    np.testing.assert_array_equal(numeric["prompt.non_ascii"], [0, 0, 0, NAN, 0, 2 / 11, 1])
    assert all(v.dtype == np.float64 for v in numeric.values())
    assert categorical == {
        "prompt.empty": ["false", "true", "true", None, "false", "false", "false"],
        "prompt.refusal": ["false", "false", "false", None, "true", "false", "false"],
    }


def test_refusal_phrases_ignore_case_apostrophes_and_spacing() -> None:
    texts = [
        "I can’t assist with that request.",  # curly apostrophe
        "AS AN AI LANGUAGE MODEL, I have no opinions.",
        "Sure. As an AI\nlanguage   model I still answer.",
        "I am unable to open links.",
        "I can help with that!",
        "Sorry, I didn't catch that.",
        "I cannot help without more detail",  # whole words only
        "Hi cannot assist",  # "I" must be a word too
    ]
    _, categorical = derive("answer", texts)
    assert categorical["answer.refusal"] == [
        "true",
        "true",
        "true",
        "true",
        "false",
        "false",
        "false",
        "false",
    ]


def test_token_rule_rounds_half_up() -> None:
    assert approx_tokens(chars=7, words=1) == 2  # max(1.33, 1.75)
    assert approx_tokens(chars=10, words=0) == 3  # 2.5 -> 3, not banker's 2
    assert approx_tokens(chars=0, words=0) == 0
    assert approx_tokens(chars=20, words=6) == 8  # 8 > 5


def test_no_texts_give_empty_features() -> None:
    numeric, categorical = derive("t", [])
    assert all(v.shape == (0,) for v in numeric.values())
    assert categorical == {"t.empty": [], "t.refusal": []}
