"""Topic name/filter validation, matching (incl. the $ rule) and the TopicTree trie."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.mqtt.topics import (
    TopicError,
    TopicTree,
    split_shared_filter,
    topic_matches,
    validate_topic_filter,
    validate_topic_name,
)


@pytest.mark.parametrize(
    "topic_filter",
    [
        "#",
        "+",
        "sport/tennis/#",
        "sport/+/player1",
        "+/tennis/#",
        "/+",
        "+/+",
        "a//b",
        "$SYS/#",
        "$aws/certificates/create/json/+",
        "$share/group/a/+",
        "\u00e9/+/\U0001f600",
        "/",
    ],
)
def test_valid_filters(topic_filter: str) -> None:
    validate_topic_filter(topic_filter)


@pytest.mark.parametrize(
    "topic_filter",
    [
        "",
        "sport/tennis#",
        "sport/tennis/#/ranking",
        "sport+",
        "a/b+/c",
        "##",
        "a/#/",
        "a\x00b",
        "$share/",
        "$share/g",
        "$share/g/",
        "$share//a",
        "$share/g+/a",
        "$share/#/a",
    ],
)
def test_invalid_filters(topic_filter: str) -> None:
    with pytest.raises(TopicError):
        validate_topic_filter(topic_filter)


@pytest.mark.parametrize("topic", ["a", "/", "a/b", "$aws/things/x/shadow", " ", "a//b"])
def test_valid_names(topic: str) -> None:
    validate_topic_name(topic)


@pytest.mark.parametrize("topic", ["", "a/+", "#", "a/#", "a+b", "a\x00"])
def test_invalid_names(topic: str) -> None:
    with pytest.raises(TopicError):
        validate_topic_name(topic)


def test_length_limit_is_in_utf8_bytes() -> None:
    validate_topic_name("a" * 65535)
    with pytest.raises(TopicError):
        validate_topic_name("a" * 65536)
    validate_topic_filter("\u00e9" * 32767 + "a")  # 65535 bytes
    with pytest.raises(TopicError):
        validate_topic_filter("\u00e9" * 32768)  # 65536 bytes in 32768 characters
    with pytest.raises(TopicError):
        validate_topic_name("\ud800" * 20000)


def test_split_shared_filter() -> None:
    assert split_shared_filter("$share/g/a/+") == ("g", "a/+")
    assert split_shared_filter("a/b") == (None, "a/b")


# MQTT 3.1.1 section 4.7.1 and MQTT 5 section 4.7.1 examples, plus the $ rule of section 4.7.2.
MATCHES = [
    ("sport/tennis/player1/#", "sport/tennis/player1", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
    ("sport/#", "sport", True),
    ("#", "sport/tennis", True),
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player2", True),
    ("sport/tennis/+", "sport/tennis/player1/ranking", False),
    ("sport/+", "sport", False),
    ("sport/+", "sport/", True),
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("+", "/finance", False),
    ("a/b", "a/b", True),
    ("a/b", "a/b/c", False),
    ("a/b/c", "a/b", False),
    ("+/monitor/Clients", "$SYS/monitor/Clients", False),
    ("#", "$SYS/monitor/Clients", False),
    ("#", "$aws/certificates/create/json", False),
    ("$SYS/#", "$SYS/monitor/Clients", True),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
    ("$SYS/#", "$SYS", True),
    ("$aws/certificates/create/json/+", "$aws/certificates/create/json/accepted", True),
    ("$aws/provisioning-templates/+/provision/json/#", "$aws/provisioning-templates/t1/provision/json/accepted", True),
    ("+/+", "$aws/x", False),
    ("a/+/#", "a/b", True),
    ("a/+/#", "a", False),
]


@pytest.mark.parametrize(("topic_filter", "topic", "expected"), MATCHES)
def test_topic_matches(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected
    tree: TopicTree[str] = TopicTree()
    tree.add(topic_filter, "v")
    assert tree.match(topic) == (["v"] if expected else [])


def test_tree_add_remove_len() -> None:
    tree: TopicTree[int] = TopicTree()
    tree.add("a/+", 1)
    tree.add("a/+", 1)
    tree.add("a/#", 2)
    tree.add("#", 3)
    assert len(tree) == 4
    assert sorted(tree.match("a/b")) == [1, 1, 2, 3]
    assert tree.remove("a/+", 1)
    assert sorted(tree.match("a/b")) == [1, 2, 3]
    assert not tree.remove("a/+", 9)
    assert not tree.remove("x/y", 1)
    assert tree.remove("a/+", 1)
    assert tree.remove("a/#", 2)
    assert tree.remove("#", 3)
    assert len(tree) == 0
    assert tree.match("a/b") == []
    assert not tree._root.children  # pruned


def test_tree_many_filters() -> None:
    tree: TopicTree[int] = TopicTree()
    for i in range(5000):
        tree.add(f"$aws/certificates/create/json/{i}", i)
        tree.add(f"devices/{i}/+", i)
    tree.add("devices/#", -1)
    assert len(tree) == 10001
    assert tree.match("$aws/certificates/create/json/4711") == [4711]
    assert sorted(tree.match("devices/42/state")) == [-1, 42]


_levels = st.sampled_from(["a", "b", "", "$x", "$SYS"])
_topics = st.lists(_levels, min_size=1, max_size=4).map("/".join).filter(bool)
_filter_levels = st.sampled_from(["a", "b", "", "$x", "$SYS", "+"])
_filters = (
    st.tuples(st.lists(_filter_levels, min_size=1, max_size=4), st.booleans())
    .map(lambda lv: "/".join([*lv[0], "#"] if lv[1] else lv[0]))
    .filter(bool)
)


@settings(max_examples=300, deadline=None)
@given(
    entries=st.lists(st.tuples(_filters, st.integers(0, 5)), max_size=20),
    removals=st.lists(st.integers(0, 19), max_size=10),
    topics=st.lists(_topics, min_size=1, max_size=5),
)
def test_tree_agrees_with_topic_matches(entries: list[tuple[str, int]], removals: list[int], topics: list[str]) -> None:
    tree: TopicTree[int] = TopicTree()
    live = list(entries)
    for topic_filter, value in entries:
        validate_topic_filter(topic_filter)
        tree.add(topic_filter, value)
    for index in removals:
        if index < len(entries):
            topic_filter, value = entries[index]
            removed = tree.remove(topic_filter, value)
            assert removed == ((topic_filter, value) in live)
            if removed:
                live.remove((topic_filter, value))
    assert len(tree) == len(live)
    for topic in topics:
        expected = Counter(v for f, v in live if topic_matches(f, topic))
        assert Counter(tree.match(topic)) == expected
