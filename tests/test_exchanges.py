"""The pair-test helper reports the first differing step with a diff."""

import pytest

from tests.exchanges import ExchangeLog, ExchangeMismatch, assert_exchanges


def test_equal_exchanges_pass() -> None:
    log = ExchangeLog()
    log.record("client", "server", "CONNECT")
    log.record("server", "client", "CONNACK")
    assert_exchanges(["client -> server: CONNECT", "server -> client: CONNACK"], log)


def test_a_differing_step_is_named_with_a_diff() -> None:
    with pytest.raises(ExchangeMismatch) as info:
        assert_exchanges(["a -> b: X", "b -> a: Y", "a -> b: Z"], ["a -> b: X", "b -> a: W", "a -> b: Z"])
    text = str(info.value)
    assert "step 2" in text
    assert "-b -> a: Y" in text and "+b -> a: W" in text


def test_a_missing_step_is_reported() -> None:
    with pytest.raises(ExchangeMismatch, match="step 2"):
        assert_exchanges(["a -> b: X", "b -> a: Y"], ["a -> b: X"])
