"""The framework-free HTTP rules on any input: a body decodes to a JSON value or fails as
malformed JSON (400), whatever it holds."""

import json

from hypothesis import given
from hypothesis import strategies as st

from stockroom.http_rules import decode_json

# Numbers Python's json module reads as no JSON value, or not at all: integers past the
# 4,300-digit limit, floats past range, NaN and the infinities; among ordinary ones.
numbers = st.one_of(
    st.integers(4_301, 6_000).map(lambda digits: "9" * digits),
    st.sampled_from(["1e400", "-1e999", "NaN", "Infinity", "-Infinity", "1e-400"]),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
bodies = st.one_of(
    st.text(),
    st.binary(),
    numbers,
    st.lists(numbers, max_size=3).map(lambda items: '{"items": [' + ",".join(items) + "]}"),
)


@given(bodies)
def test_a_body_decodes_to_json_or_fails_as_malformed_json(body):
    try:
        value = decode_json(body)
    except json.JSONDecodeError:
        return
    json.dumps(value, allow_nan=False)  # a JSON value: no NaN, no infinity
