"""Load the SLA policy file (``LAPORFLOW_POLICY``) into a :class:`~workflows.policy.Policy`.

The one place where YAML and pydantic errors about the policy become
:class:`~engine.errors.PolicyError`, with messages that name the file and every
offending key path (``unknown key 'regions.HSU.clokcs'``) so an operator can fix the
file without reading a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from engine.errors import PolicyError
from workflows.policy import Policy

__all__ = ["load_policy"]

# Offending values are echoed in messages, cut to this many characters.
_MAX_SHOWN = 80


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that rejects duplicate mapping keys.

    Plain ``safe_load`` keeps the last of two ``HSU:`` entries without a word; in a
    policy file that silently drops a region's settings.
    """


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """Build a mapping like SafeLoader does, failing on a key seen twice."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        # Keys brought in by a `<<: *anchor` merge may be overridden; only the
        # mapping's own keys must be unique.
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_policy(path: str | os.PathLike[str] | None) -> Policy:
    """Read and validate the policy file at ``path``; ``None`` means the defaults.

    An empty file (or one holding only comments) also means the defaults. Raises
    :class:`PolicyError` when the file cannot be read, is not YAML, is not a mapping at
    the top level, or fails validation; the message lists every problem with its key
    path, and the original error is chained.
    """
    if path is None:
        return Policy.default()
    where = os.fspath(path)
    try:
        # Parse from the open file so YAML error marks name it, not "<unicode string>".
        with open(where, encoding="utf-8") as stream:
            data: object = yaml.load(stream, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PolicyError(
            f"the policy file is not valid YAML, fix its syntax: {exc}", path=where
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read the policy file: {exc}", path=where) from exc
    if data is None:
        return Policy.default()
    if not isinstance(data, dict):
        raise PolicyError(
            "the policy file must be a mapping of sections (defaults, regions, skpd, "
            "categories, holidays, escalation, skpds, targets, contacts, webhooks, notify), "
            f"got a {type(data).__name__}",
            path=where,
        )
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise PolicyError(f"invalid policy file: {problems}", path=where) from exc


def _describe(error: ErrorDetails) -> str:
    """One validation error as ``<what> '<key path>'``, e.g. unknown key 'a.b'."""
    loc = error["loc"]
    if loc and loc[-1] == "[key]":
        # pydantic marks a mapping key that failed validation with a "[key]" step.
        message = error["msg"]
        return f"bad key {loc[-2]!r} in {_key_path(loc[:-2])!r}: {message}"
    key_path = _key_path(loc)
    if error["type"] == "extra_forbidden":
        return f"unknown key {key_path!r}"
    message = error["msg"]
    # pydantic prefixes messages of our own validators with "Value error, ".
    message = message.removeprefix("Value error, ")
    shown = repr(error["input"])
    if len(shown) > _MAX_SHOWN:
        shown = shown[: _MAX_SHOWN - 3] + "..."
    return f"bad value at {key_path!r}: {message} (got {shown})"


def _key_path(loc: tuple[int | str, ...]) -> str:
    """Dotted key path with list positions in brackets: ``holidays.add[0]``."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else item)
    return "".join(parts) or "<top level>"
