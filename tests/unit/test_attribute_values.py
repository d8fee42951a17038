"""Items are written as boto3's TypeSerializer would write them, without importing boto3
in the functions."""

from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from stockroom.dal.items import attribute_value, from_item

# What model_dump(mode="json") can give, floats aside (DynamoDB numbers are exact), with
# integers of DynamoDB's 38 digits (beyond them, both refuse: tested below).
DIGITS_38 = 10**38 - 1
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-DIGITS_38, DIGITS_38) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_attribute_values_are_boto3s(value):
    assert attribute_value(value) == TypeSerializer().serialize(value)


@given(st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=5))
def test_an_item_reads_back_as_written(plain):
    item = {key: attribute_value(value) for key, value in plain.items()}
    assert from_item(item) == plain


@pytest.mark.parametrize(
    "value",
    [10**38 + 1, -(10**39), Decimal("1." + "0" * 37 + "1"), Decimal("1e200")],
)
def test_a_number_dynamodb_cannot_hold_exactly_is_refused_as_boto3_refuses_it(value):
    with pytest.raises(ArithmeticError):
        TypeSerializer().serialize(value)
    with pytest.raises(ArithmeticError):
        attribute_value(value)


def test_a_decimal_is_a_number():
    assert attribute_value(Decimal("12.50")) == {"N": "12.50"}


@pytest.mark.parametrize("value", [1.5, {"price": 0.1}, [2.0]])
def test_a_float_is_refused_as_boto3_refuses_it(value):
    with pytest.raises(TypeError):
        TypeSerializer().serialize(value)
    with pytest.raises(TypeError, match="float cannot be stored"):
        attribute_value(value)
