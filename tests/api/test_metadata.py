from __future__ import annotations

import pytest

from tenure.api.errors import InvalidRequest
from tenure.api.metadata import apply_metadata


def test_merge_and_delete_with_blank() -> None:
    assert apply_metadata({"a": "1", "b": "2"}, {"b": "", "c": 3}) == {"a": "1", "c": "3"}


def test_blank_metadata_clears_everything() -> None:
    assert apply_metadata({"a": "1"}, "") == {}


def test_limits() -> None:
    with pytest.raises(InvalidRequest) as too_many:
        apply_metadata({}, {f"k{i}": "v" for i in range(51)})
    assert too_many.value.param == "metadata"
    with pytest.raises(InvalidRequest) as long_key:
        apply_metadata({}, {"k" * 41: "v"})
    assert long_key.value.param == f"metadata[{'k' * 41}]"
    with pytest.raises(InvalidRequest):
        apply_metadata({}, {"k": "v" * 501})
    assert apply_metadata({}, {"k" * 40: "v" * 500}) == {"k" * 40: "v" * 500}
