"""MQTT topic names, topic filters and matching (MQTT 3.1.1 section 4.7, MQTT 5 section 4.7-4.8).

`TopicTree` is a subscription trie: one node per filter level, `+` and `#` stored as ordinary
children, so matching a topic visits only the branches that can match it. Invariants: a node
exists only while it or a descendant holds a value (removal prunes), and `len()` is the number of
(filter, value) entries held. The `$` rule [MQTT-4.7.2-1] applies to both `topic_matches` and
`TopicTree.match`: a filter whose first level is `+` or `#` never matches a topic starting with `$`.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from protocols.errors import RemoteProtocolError

MAX_TOPIC_BYTES = 65535
SHARED_PREFIX = "$share/"

T = TypeVar("T")


class TopicError(RemoteProtocolError, ValueError):
    """A topic name or topic filter breaks the MQTT syntax rules."""


def _check_common(text: str, what: str) -> None:
    if not text:
        raise TopicError(f"{what} must be at least one character long")
    # A str of more than 65535 // 4 characters may still fit; only then pay for the encode.
    if len(text) > MAX_TOPIC_BYTES // 4:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise TopicError(f"{what} is not encodable as UTF-8") from None
        if size > MAX_TOPIC_BYTES:
            raise TopicError(f"{what} is {size} bytes, more than {MAX_TOPIC_BYTES}")
    if "\x00" in text:
        raise TopicError(f"{what} contains U+0000")


def validate_topic_name(topic: str) -> None:
    """Raise TopicError unless `topic` may be published to: non-empty, no wildcards, <= 65535 bytes."""
    _check_common(topic, "topic name")
    if "+" in topic or "#" in topic:
        raise TopicError(f"topic name {topic!r} contains a wildcard")


def validate_topic_filter(topic_filter: str) -> None:
    """Raise TopicError unless `topic_filter` is a valid subscription filter.

    `#` only as the whole last level, `+` only as a whole level; a shared subscription
    `$share/<name>/<filter>` needs a non-empty share name without wildcards and a valid filter.
    """
    _check_common(topic_filter, "topic filter")
    share_name, inner = split_shared_filter(topic_filter)
    if share_name is not None:
        if not share_name or "+" in share_name or "#" in share_name:
            raise TopicError(f"invalid share name in {topic_filter!r}")
        if not inner:
            raise TopicError(f"shared subscription {topic_filter!r} has no topic filter")
    levels = inner.split("/")
    last = len(levels) - 1
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != last):
            raise TopicError(f"'#' must be the whole last level in {topic_filter!r}")
        if "+" in level and level != "+":
            raise TopicError(f"'+' must occupy a whole level in {topic_filter!r}")


def split_shared_filter(topic_filter: str) -> tuple[str | None, str]:
    """("name", "filter") for `$share/name/filter`, else (None, topic_filter). Does not validate."""
    if not topic_filter.startswith(SHARED_PREFIX):
        return None, topic_filter
    share_name, _, inner = topic_filter[len(SHARED_PREFIX) :].partition("/")
    return share_name, inner


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether a (valid, non-shared) filter matches a (valid) topic name."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)


class _Node(Generic[T]):
    __slots__ = ("children", "values")

    def __init__(self) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.values: list[T] = []


class TopicTree(Generic[T]):
    """Subscription trie mapping topic filters to values (e.g. sessions).

    The same value may be added under several filters, or twice under one filter; `match`
    returns one entry per (filter, value) that matches, in no particular order.
    """

    __slots__ = ("_count", "_root")

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, topic_filter: str, value: T) -> None:
        node = self._root
        for level in topic_filter.split("/"):
            child = node.children.get(level)
            if child is None:
                child = node.children[level] = _Node()
            node = child
        node.values.append(value)
        self._count += 1

    def remove(self, topic_filter: str, value: T) -> bool:
        """Remove one (filter, value) entry; False if there was none."""
        path: list[tuple[_Node[T], str]] = []
        node = self._root
        for level in topic_filter.split("/"):
            child = node.children.get(level)
            if child is None:
                return False
            path.append((node, level))
            node = child
        try:
            node.values.remove(value)
        except ValueError:
            return False
        self._count -= 1
        for parent, level in reversed(path):
            if node.values or node.children:
                break
            del parent.children[level]
            node = parent
        return True

    def match(self, topic: str) -> list[T]:
        """Values of every filter matching `topic`."""
        levels = topic.split("/")
        result: list[T] = []
        root = self._root
        if topic.startswith("$"):
            # [MQTT-4.7.2-1]: skip the root's wildcard children.
            child = root.children.get(levels[0])
            nodes = [child] if child is not None else []
            start = 1
        else:
            nodes = [root]
            start = 0
        for level in levels[start:]:
            next_nodes: list[_Node[T]] = []
            for node in nodes:
                children = node.children
                if not children:
                    continue
                multi = children.get("#")
                if multi is not None:
                    result.extend(multi.values)
                single = children.get("+")
                if single is not None:
                    next_nodes.append(single)
                exact = children.get(level)
                if exact is not None:
                    next_nodes.append(exact)
            if not next_nodes:
                return result
            nodes = next_nodes
        for node in nodes:
            result.extend(node.values)
            # "a/#" also matches "a" itself.
            multi = node.children.get("#")
            if multi is not None:
                result.extend(multi.values)
        return result
