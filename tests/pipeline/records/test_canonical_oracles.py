"""The faster `check_turns` and `apply_field_map` against their first definitions (the oracles),
on generated dialogues and records: whitespace of every kind, empty text, any role order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records.canonical import _DEFAULT_ALIASES, Reject, apply_field_map, check_turns


def check_turns_oracle(messages, *, ends_with):
    body = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if not body:
        return Reject("no_reply" if ends_with == "assistant" else "missing_field:prompt")
    for i, message in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if message["role"] != expected:
            return Reject("roles_not_alternating")
    if body[-1]["role"] != ends_with:
        return Reject("no_reply" if ends_with == "assistant" else "roles_not_alternating")
    if any(not m["content"].strip() for m in messages):
        return Reject("empty_text")
    return None


def apply_field_map_oracle(raw, fields, kind):
    out = {}
    for key, value in raw.items():
        out.setdefault(fields.get(key, key), value)
        if key in fields and fields[key] != key:
            out[fields[key]] = value
    if kind != "preference" or "prompt" not in out:
        for alias, target in _DEFAULT_ALIASES.items():
            if alias in raw and alias not in fields and target not in out:
                if kind == "preference" and target == "response":
                    continue
                out[target] = raw[alias]
    return out


# Every character `str.isspace` or `str.strip` treats as whitespace, and some they do not.
SPACES = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_SPACES = "\u200b\ufeff\u180e\x00a\u00e9\U0001f600"
CONTENT = st.text(alphabet=st.sampled_from(SPACES + NOT_SPACES), max_size=6) | st.text(max_size=4)
TURNS = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "bot"]), "content": CONTENT}
    ),
    max_size=6,
)


@settings(max_examples=1500, deadline=None)
@given(TURNS, st.sampled_from(["assistant", "user"]))
def test_check_turns_equals_the_oracle(messages, ends_with):
    assert check_turns(messages, ends_with=ends_with) == check_turns_oracle(
        messages, ends_with=ends_with
    )


def test_empty_text_is_whatever_strip_leaves_empty():
    for ch in SPACES + NOT_SPACES:
        messages = [{"role": "user", "content": ch * 3}, {"role": "assistant", "content": "ok"}]
        got = check_turns(messages, ends_with="assistant")
        assert got == check_turns_oracle(messages, ends_with="assistant"), repr(ch)


KEYS = st.sampled_from(
    ["prompt", "response", "instruction", "input", "output", "question", "answer", "query"]
    + ["completion", "chosen", "rejected", "q", "a", "messages", "system"]
)


@settings(max_examples=1500, deadline=None)
@given(
    st.dictionaries(KEYS, st.text(max_size=3) | st.none()),
    st.dictionaries(KEYS, KEYS, max_size=3) | st.just({}),
    st.sampled_from(["sft", "preference", "synthetic"]),
)
def test_apply_field_map_equals_the_oracle(raw, fields, kind):
    got = apply_field_map(raw, fields, kind)
    expected = apply_field_map_oracle(raw, fields, kind)
    assert got == expected
    assert list(got) == list(expected)  # key order too
