"""The audit log's diffs: what an edit removed and added, readable, and faithful to both texts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from state.changes import MAX_FIELD, describe, list_diff, word_diff

_words = st.lists(st.sampled_from(["In", "Our", "View", "26", "3", "November", "December", " ", "  ", "\n", "é", "🧵"]),
                  max_size=30).map("".join)


def _side(diff: list[list[str]], keep: str) -> str:
    return "".join(text for op, text in diff if op in ("=", keep))


@given(_words, _words)
def test_a_word_diff_holds_both_texts_exactly(before: str, after: str) -> None:
    diff = word_diff(before, after)
    assert _side(diff, "-") == before and _side(diff, "+") == after
    assert all(text for _, text in diff)  # no empty runs
    assert all(a[0] != b[0] for a, b in zip(diff, diff[1:], strict=False))  # runs of one kind are joined


@given(st.lists(st.sampled_from("ABCDEF"), max_size=8), st.lists(st.sampled_from("ABCDEF"), max_size=8))
def test_a_list_diff_holds_both_lists(before: list[str], after: list[str]) -> None:
    diff = list_diff(before, after)
    assert [t for op, t in diff if op != "+"] == before and [t for op, t in diff if op != "-"] == after


def test_a_changed_date_reads_as_one_removal_and_one_addition() -> None:
    assert word_diff("In Our View: 26 November", "In Our View: 3 December") == [
        ["=", "In Our View: "], ["-", "26 November"], ["+", "3 December"]]


def test_describe_keeps_changed_fields_only_and_clips_huge_ones() -> None:
    changed = describe({"subject": ("a", "a"), "intro": ("x" * (MAX_FIELD + 5), "y"), "items": (["A"], ["B"])})
    assert set(changed) == {"intro", "items"}
    assert changed["intro"]["before"].endswith("(5 more characters not kept)")
    assert changed["items"]["diff"] == [["-", "A"], ["+", "B"]]
