"""The pure parts of the external scale sources: naming a broker, reading a query result."""

from __future__ import annotations

import pytest

from healer.adapters.scaling.brokers import BrokerError, resolve
from healer.adapters.scaling.prometheus import QueryError, one_number


def test_env_reference_resolves_on_the_healers_side() -> None:
    env = {"APP_BROKER": "amqp://app:secret@rabbit:5672//"}
    assert resolve("env:APP_BROKER", env) == "amqp://app:secret@rabbit:5672//"
    assert resolve("redis://cache:6379/2", env) == "redis://cache:6379/2"
    with pytest.raises(BrokerError, match="MISSING is not set on the healer"):
        resolve("env:MISSING", env)


def test_one_number_from_a_scalar_or_a_one_sample_vector() -> None:
    assert one_number({"resultType": "scalar", "result": [1.0, "4.5"]}) == 4.5
    vector = {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "12"]}]}
    assert one_number(vector) == 12.0


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"resultType": "vector", "result": []}, "no sample"),
        ({"resultType": "vector", "result": [{"value": [0, "1"]}] * 3}, "3 series; aggregate"),
        ({"resultType": "matrix", "result": []}, "a matrix, not a scalar"),
        ({"resultType": "scalar", "result": [0, "NaN"]}, "not a finite number"),
        ({"resultType": "scalar", "result": [0, "x"]}, "is not a number"),
    ],
)
def test_anything_but_one_finite_number_is_refused_saying_why(
    data: dict[str, object], needle: str
) -> None:
    with pytest.raises(QueryError, match=needle):
        one_number(data)
