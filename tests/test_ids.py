"""Object ids and random tokens: the right length, only base62 characters, every one about as likely."""

from __future__ import annotations

import collections
import re

from tenure.ids import new_id, random_token


def test_ids_have_the_prefix_and_24_base62_characters() -> None:
    ids = {new_id("in") for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"in_[A-Za-z0-9]{24}", value) for value in ids)


def test_tokens_have_the_length_asked_for() -> None:
    for length in (0, 1, 7, 32, 300):
        assert len(random_token(length)) == length


def test_every_character_is_about_as_likely() -> None:
    # 62 characters over 620,000 draws: 10,000 expected each, a standard deviation of about 99.
    # A byte folded onto the alphabet with `% 62` would draw the first 8 characters 5 times in 256
    # and the others 4 times (about 12,100 against 9,700 here): far outside the ±6 % allowed.
    counts = collections.Counter("".join(random_token(62) for _ in range(10_000)))
    assert len(counts) == 62
    assert all(9_400 <= count <= 10_600 for count in counts.values()), counts
