"""Opaque cursors and the page reader that never ends on an empty page."""

import pytest

from stockroom.dal.items import read_page
from stockroom.errors import InvalidRequestError
from stockroom.pagination import decode_cursor, encode_cursor


def test_cursor_round_trips():
    position = {"created_at": "2026-11-21T16:04:05.000001Z", "order_id": "abc"}
    assert decode_cursor(encode_cursor(position), ("created_at", "order_id")) == position


@pytest.mark.parametrize(
    "cursor",
    ["", "%%%", encode_cursor({"sku": "A"}) + "x", encode_cursor({"other": "A"})],
)
def test_foreign_cursors_are_rejected_naming_cursor(cursor):
    with pytest.raises(InvalidRequestError) as raised:
        decode_cursor(cursor, ("sku",))
    assert [problem.field for problem in raised.value.details] == ["cursor"]


def fake_query(items: list[int], page_size: int):
    """A DynamoDB-like query: returns at most `page_size` items per call whatever the
    limit, and a continuation key whenever it stopped early, even at the very end."""

    def query(start, limit):
        offset = 0 if start is None else start["n"] + 1
        page = items[offset : offset + min(limit, page_size)]
        stopped_early = offset + len(page) <= len(items) and len(page) > 0
        last = {"n": offset + len(page) - 1} if stopped_early else None
        return [{"n": n} for n in page], last

    return query


@pytest.mark.parametrize(("total", "page_size"), [(0, 3), (5, 10), (10, 3), (9, 3), (10, 10)])
def test_read_page_returns_everything_once_and_no_empty_last_page(total, page_size):
    query = fake_query(list(range(total)), page_size)
    seen: list[int] = []
    start = None
    pages = 0
    while True:
        items, last = read_page(query, 4, start)
        pages += 1
        seen.extend(item["n"] for item in items)
        if last is None:
            break
        assert items, "a page with a continuation must not be empty"
        start = {"n": last["n"]}
    assert seen == list(range(total))
    assert pages == max(1, -(-total // 4))
