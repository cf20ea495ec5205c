"""Turning one raw record (a dict read from a file) into a canonical record, or a reason it can't be.

Handled shapes:

- prompt/response (Alpaca ``instruction``/``input``/``output`` too; ``input`` is appended to the
  prompt after a blank line), with optional ``system`` and ``history`` (``[[query, reply], ...]``);
- chat ``messages`` (``{role, content}`` or ShareGPT ``{from, value}``), and ``conversations``
  (LIMA: a list of strings alternating user and assistant);
- preference ``prompt``/``chosen``/``rejected``, where ``chosen``/``rejected`` are replies, chat
  lists, or whole HH-RLHF transcripts (``\\n\\nHuman: … \\n\\nAssistant: …``) that are split into
  the shared prompt turns and the two final replies.

Every failure is a `Reject` carrying a ledger reason code: ``missing_field:<f>``,
``wrong_type:<f>``, ``empty_text``, ``roles_not_alternating``, ``no_reply``,
``preference_prompt_mismatch``, ``chosen_equals_rejected``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, overload

SCHEMA_RULE = "schema_v1"

_DEFAULT_ALIASES = {
    "instruction": "prompt",
    "question": "prompt",
    "query": "prompt",
    "output": "response",
    "answer": "response",
    "completion": "response",
}
_ROLE_ALIASES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "system": "system",
}
_HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):[ ]?")


class Reject(NamedTuple):
    """A record that fails its kind's schema; `reason` is the ledger reason code."""

    reason: str


class Canonical(NamedTuple):
    """The content part of a canonical record."""

    messages: list[dict[str, str]]
    chosen: str | None
    rejected: str | None


def apply_field_map(raw: Mapping[str, Any], fields: Mapping[str, str], kind: str) -> dict[str, Any]:
    """Rename a raw record's keys to canonical names.

    Explicit `fields` (file field -> canonical) win; other keys keep their names, and common
    aliases (``instruction``, ``question``, ``output``, ``answer`` …) fill canonical names that
    are still absent.
    """
    if fields:
        out: dict[str, Any] = {}
        for key, value in raw.items():
            out.setdefault(fields.get(key, key), value)
            if key in fields and fields[key] != key:
                out[fields[key]] = value
    else:
        out = dict(raw)  # what the loop above gives when no field is renamed
    if kind != "preference" or "prompt" not in out:
        for alias, target in _DEFAULT_ALIASES.items():
            if alias in raw and alias not in fields and target not in out:
                if kind == "preference" and target == "response":
                    continue
                out[target] = raw[alias]
    return out


@overload
def _text(record: Mapping[str, Any], name: str, *, required: Literal[True]) -> str | Reject: ...
@overload
def _text(record: Mapping[str, Any], name: str, *, required: bool) -> str | Reject | None: ...
def _text(record: Mapping[str, Any], name: str, *, required: bool) -> str | Reject | None:
    value = record.get(name)
    if value is None:
        return Reject(f"missing_field:{name}") if required else None
    if not isinstance(value, str):
        return Reject(f"wrong_type:{name}")
    return value


def _chat_list(value: Any, name: str) -> list[dict[str, str]] | Reject:
    if not isinstance(value, list):
        return Reject(f"wrong_type:{name}")
    turns: list[dict[str, str]] = []
    for i, item in enumerate(value):
        if isinstance(item, str):  # LIMA-style alternating strings
            turns.append({"role": "user" if i % 2 == 0 else "assistant", "content": item})
            continue
        if not isinstance(item, Mapping):
            return Reject(f"wrong_type:{name}")
        role = item.get("role", item.get("from"))
        content = item.get("content", item.get("value"))
        if not isinstance(role, str) or role.lower() not in _ROLE_ALIASES:
            return Reject(f"wrong_type:{name}.role")
        if not isinstance(content, str):
            return Reject(f"wrong_type:{name}.content")
        turns.append({"role": _ROLE_ALIASES[role.lower()], "content": content})
    return turns


def check_turns(messages: list[dict[str, str]], *, ends_with: str) -> Reject | None:
    """Check roles (optional leading system, then user/assistant alternating) and empty turns."""
    first = 1 if messages and messages[0]["role"] == "system" else 0
    if len(messages) == first:
        return Reject("no_reply" if ends_with == "assistant" else "missing_field:prompt")
    expected = "user"
    for message in messages[first:] if first else messages:
        if message["role"] != expected:
            return Reject("roles_not_alternating")
        expected = "assistant" if expected == "user" else "user"
    if messages[-1]["role"] != ends_with:
        return Reject("no_reply" if ends_with == "assistant" else "roles_not_alternating")
    for message in messages:
        content = message["content"]
        if not content or content.isspace():  # = not content.strip(), without a copy
            return Reject("empty_text")
    return None


def _prompt_turns(record: Mapping[str, Any]) -> list[dict[str, str]] | Reject:
    """Build system + history + prompt turns from prompt-style fields."""
    system = _text(record, "system", required=False)
    if isinstance(system, Reject):
        return system
    prompt = _text(record, "prompt", required=True)
    if isinstance(prompt, Reject):
        return prompt
    extra = _text(record, "input", required=False)
    if isinstance(extra, Reject):
        return extra
    turns: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    history = record.get("history")
    if history:
        if not isinstance(history, list):
            return Reject("wrong_type:history")
        for pair in history:
            ok = isinstance(pair, list | tuple) and len(pair) == 2
            if not ok or not all(isinstance(x, str) for x in pair):
                return Reject("wrong_type:history")
            turns += [
                {"role": "user", "content": pair[0]},
                {"role": "assistant", "content": pair[1]},
            ]
    text = f"{prompt}\n\n{extra}" if extra and extra.strip() else prompt
    turns.append({"role": "user", "content": text})
    return turns


def _chat_field(record: Mapping[str, Any]) -> list[dict[str, str]] | Reject | None:
    for name in ("messages", "conversations"):
        if record.get(name) is not None:
            turns = _chat_list(record[name], name)
            if (
                not isinstance(turns, Reject)
                and isinstance(record.get("system"), str)
                and record["system"].strip()
                and (not turns or turns[0]["role"] != "system")
            ):
                turns = [{"role": "system", "content": record["system"]}, *turns]
            return turns
    return None


def canonicalize_dialogue(record: Mapping[str, Any]) -> Canonical | Reject:
    """SFT / synthetic: a dialogue that ends with an assistant reply."""
    turns = _chat_field(record)
    if turns is None:
        turns = _prompt_turns(record)
        if isinstance(turns, Reject):
            return turns
        response = _text(record, "response", required=True)
        if isinstance(response, Reject):
            return response
        turns.append({"role": "assistant", "content": response})
    if isinstance(turns, Reject):
        return turns
    problem = check_turns(turns, ends_with="assistant")
    return problem or Canonical(turns, None, None)


def split_hh_transcript(text: str) -> list[dict[str, str]] | None:
    """Split an HH-RLHF transcript into turns, or None if it is not one."""
    parts = _HH_TURN.split(text)
    if len(parts) < 3 or parts[0].strip():
        return None
    roles = parts[1::2]
    contents = parts[2::2]
    return [
        {"role": "user" if r == "Human" else "assistant", "content": c.strip()}
        for r, c in zip(roles, contents, strict=True)
    ]


def _reply_side(value: Any, name: str) -> tuple[list[dict[str, str]] | None, str] | Reject:
    """Return (prompt turns or None, reply) for one side of a preference pair."""
    turns: list[dict[str, str]] | Reject | None
    if isinstance(value, str):
        turns = split_hh_transcript(value) if "Human:" in value[:20] else None
        if turns is None:
            return None, value
    else:
        turns = _chat_list(value, name)
        if isinstance(turns, Reject):
            return turns
    if not turns or turns[-1]["role"] != "assistant":
        return Reject("no_reply")
    return turns[:-1], turns[-1]["content"]


def canonicalize_preference(record: Mapping[str, Any]) -> Canonical | Reject:
    """Preference: shared prompt turns ending with a user turn, plus chosen and rejected replies."""
    sides = []
    for name in ("chosen", "rejected"):
        if record.get(name) is None:
            return Reject(f"missing_field:{name}")
        side = _reply_side(record[name], name)
        if isinstance(side, Reject):
            return side
        sides.append(side)
    (chosen_prompt, chosen), (rejected_prompt, rejected) = sides
    turns: list[dict[str, str]] | Reject | None
    if chosen_prompt is not None or rejected_prompt is not None:
        if chosen_prompt != rejected_prompt:
            return Reject("preference_prompt_mismatch")
        turns = chosen_prompt or []
        if isinstance(record.get("system"), str) and record["system"].strip():
            turns = [{"role": "system", "content": record["system"]}, *turns]
    else:
        turns = _chat_field(record)
        if turns is None:
            turns = _prompt_turns(record)
        if isinstance(turns, Reject):
            return turns
    problem = check_turns(turns, ends_with="user")
    if problem:
        return problem
    if not chosen.strip() or not rejected.strip():
        return Reject("empty_text")
    if chosen.strip() == rejected.strip():
        return Reject("chosen_equals_rejected")
    return Canonical(turns, chosen, rejected)


def canonicalize(record: Mapping[str, Any], *, kind: str) -> Canonical | Reject:
    """Canonicalize a field-mapped record of `kind`."""
    if kind == "preference":
        return canonicalize_preference(record)
    return canonicalize_dialogue(record)
