"""Signed opaque cursors and the page reader that never ends on an empty page."""

import base64
import json
import string

import pytest

from stockroom import container
from stockroom.dal.items import read_page
from stockroom.errors import InvalidRequestError
from stockroom.pagination import decode_cursor, encode_cursor

ORDER_FIELDS = ("created_at", "order_id")


def test_cursor_round_trips(stack):
    position = {"created_at": "2026-11-21T16:04:05.000001Z", "order_id": "abc"}
    assert decode_cursor(encode_cursor(position), ORDER_FIELDS) == position


def _unsigned(position: dict[str, str]) -> str:
    """A cursor as they were before they were signed: base64 JSON of a position."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _refused(cursor: str, fields: tuple[str, ...] = ("sku",)) -> bool:
    try:
        decode_cursor(cursor, fields)
    except InvalidRequestError as error:
        assert [problem.field for problem in error.details] == ["cursor"]
        return True
    return False


@pytest.mark.parametrize(
    "cursor",
    ["", "%%%", "é", "\ud800.x", "a.b", _unsigned({"sku": "A"}), _unsigned({"other": "A"})],
)
def test_foreign_cursors_are_rejected_naming_cursor(stack, cursor):
    assert _refused(cursor)


def test_a_well_formed_cursor_the_api_did_not_sign_is_refused(stack):
    genuine = encode_cursor({"sku": "A"})
    payload, mac = genuine.split(".")
    other_payload = encode_cursor({"sku": "B"}).split(".")[0]
    assert not _refused(genuine)
    assert _refused(_unsigned({"sku": "B"}))  # the shape a cursor had before signing
    assert _refused(f"{other_payload}.{mac}")  # another position under this MAC
    assert _refused(f"{payload}.")
    assert _refused(f"{payload}.{mac}x")


def test_every_edit_of_a_cursor_is_refused(stack):
    genuine = encode_cursor({"created_at": "2026-11-21T16:04:05.000001Z", "order_id": "o-1"})
    alphabet = string.ascii_letters + string.digits + "-_."
    for at, char in enumerate(genuine):
        for other in {alphabet[(alphabet.index(char) + 1) % len(alphabet)], "A"} - {char}:
            edited = genuine[:at] + other + genuine[at + 1 :]
            assert _refused(edited, ORDER_FIELDS), (at, edited)
    assert _refused(genuine[:-1], ORDER_FIELDS)
    assert _refused(genuine + "A", ORDER_FIELDS)


def test_a_cursor_signed_under_another_key_is_refused(stack, monkeypatch):
    signed_elsewhere = encode_cursor({"sku": "A"})
    monkeypatch.setattr("stockroom.pagination.cursor_key", lambda: b"another stack's key")
    assert _refused(signed_elsewhere)


def test_the_key_is_read_once_per_container(stack, monkeypatch):
    from stockroom import aws

    container.reset()
    reads: list[str] = []
    aws.secretsmanager().meta.events.register(
        "provide-client-params.secretsmanager.GetSecretValue",
        lambda params, **_: reads.append(params["SecretId"]),
    )
    for sku in ("A", "B", "C"):
        decode_cursor(encode_cursor({"sku": sku}), ("sku",))
    assert reads == [stack["CursorSigningSecret"]]


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
