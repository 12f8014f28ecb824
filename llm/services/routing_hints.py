"""Routing hints: what a request says about itself (task, tags, priority, user).

Read from the X-Tollgate-* headers, else the body's `metadata`, and bounded, so a hint can be
matched by rules and stored with the usage event.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidRequest
from llm import rules as rule_lang

MAX_TAGS = 20
MAX_TAG_CHARS = 64
MAX_TASK_CHARS = 64
MAX_USER_CHARS = 128  # the contract: the end user, at most 128 characters


@dataclass(frozen=True)
class RoutingHints:
    """What the caller tells the router about a request (rule conditions, sticky splits)."""

    task: str | None = None
    tags: tuple[str, ...] = ()
    priority: str | None = None
    user: str | None = None  # body "user", the key of sticky splits


def _split_tags(value: Any, source: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items: list = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidRequest(f"{source} must be a list of strings or a comma-separated string.")
    tags = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidRequest(f"{source} must be a list of strings or a comma-separated string.")
        tag = item.strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS:
            raise InvalidRequest(f"A tag in {source} is longer than {MAX_TAG_CHARS} characters.")
        tags.append(tag)
    return tags


def _header_or_metadata(
    headers: Mapping[str, Any], metadata: Mapping, *, header: str, key: str, what: str
) -> str | None:
    """One hint: its header wins unless blank, else body metadata; either way a string."""
    value = headers.get(header)
    if value is None or not str(value).strip():
        value = metadata.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"{what} must be a string.")
    return value


def routing_hints_from(*, body: Mapping, headers: Mapping[str, str]) -> RoutingHints:
    """Hints from headers X-Tollgate-Task / -Priority / -Tags, else body `metadata.task|tags`.

    Headers win over metadata for task and priority; tags from both are merged (deduplicated
    case-insensitively, first spelling kept)."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, Mapping):
        raise InvalidRequest("'metadata' must be an object.")

    task = _header_or_metadata(
        lowered, metadata, header="x-tollgate-task", key="task", what="'metadata.task'"
    )
    if task is not None:
        task = task.strip() or None
        if task is not None and len(task) > MAX_TASK_CHARS:
            raise InvalidRequest(f"The task hint is longer than {MAX_TASK_CHARS} characters.")

    priority = _header_or_metadata(
        lowered, metadata, header="x-tollgate-priority", key="priority", what="The priority hint"
    )
    if priority is not None:
        priority = priority.strip().lower() or None
        if priority is not None and priority not in rule_lang.PRIORITIES:
            raise InvalidRequest(
                f"X-Tollgate-Priority must be one of {', '.join(rule_lang.PRIORITIES)}."
            )

    tags: list[str] = []
    seen: set[str] = set()
    for tag in _split_tags(lowered.get("x-tollgate-tags"), "X-Tollgate-Tags") + _split_tags(
        metadata.get("tags"), "'metadata.tags'"
    ):
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidRequest(f"At most {MAX_TAGS} tags per request.")

    user = end_user_from(body=body, headers=lowered, metadata=metadata)
    return RoutingHints(task=task, tags=tuple(tags), priority=priority, user=user)


def end_user_from(*, body: Mapping, headers: Mapping[str, Any], metadata: Mapping) -> str | None:
    """The end user the tenant serves (stored on the usage event, budgeted per user): header
    X-Tollgate-User, else body `user` (chat, responses; /v1/messages maps `metadata.user_id`
    to it), else `metadata.user_id`. Printable, at most MAX_USER_CHARS, else 400 naming it."""
    for source, value in (
        ("X-Tollgate-User", headers.get("x-tollgate-user")),
        ("'user'", body.get("user")),
        ("'metadata.user_id'", metadata.get("user_id")),
    ):
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, str):
            raise InvalidRequest(f"{source} must be a string.", extra={"param": "user"})
        user = value.strip()
        if len(user) > MAX_USER_CHARS or not user.isprintable():
            raise InvalidRequest(
                f"{source} must be printable text of at most {MAX_USER_CHARS} characters.",
                extra={"param": "user"},
            )
        return user
    return None
