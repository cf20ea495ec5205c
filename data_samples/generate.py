"""Write the demo inputs in data_samples/ from a fixed seed (the project's own text).

Run: `.venv/bin/python data_samples/generate.py`. The output is byte-identical on every run
(fixed seed, sorted keys, gzip with mtime 0), so the files are committed and the demo runs on a
fresh clone. Planted on purpose, so `make demo` shows every stage doing something:

- malformed JSON lines, a wrong type, a missing field, invalid UTF-8, an empty file;
- chats whose roles do not alternate; a preference pair whose replies are equal;
- exact duplicates (case/whitespace changes) and near duplicates (one word changed);
- holdout questions embedded in longer training prompts (contamination);
- e-mail addresses and phone numbers (PII), and a source with an unknown license.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261127

NAMES = ["Ada", "Bruno", "Chen", "Dalia", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kemal", "Lena"]
ITEMS = ["apples", "pencils", "stamps", "marbles", "books", "tickets", "shells", "coins", "cards", "seeds"]
PLACES = ["harbour", "orchard", "library", "market", "valley", "station", "garden", "workshop", "bridge"]
ADJS = ["quiet", "bright", "ancient", "windy", "crowded", "hidden", "frozen", "golden", "narrow", "busy"]
TOPICS = ["photosynthesis", "compound interest", "plate tectonics", "the water cycle", "binary search",
          "supply and demand", "vaccination", "tides", "inflation", "recursion", "erosion", "gravity"]
VERBS = ["filters", "reverses", "counts", "groups", "sorts", "merges", "validates", "normalizes"]
THINGS = ["a list of integers", "a string", "a dictionary of scores", "a list of words", "a CSV row",
          "a list of timestamps", "a matrix", "a list of file paths"]
FILLER = ("the team reviewed each step carefully and wrote down what they learned so that the next "
          "person could repeat the work without guessing any detail of the method").split()


def _words(rng: random.Random, n: int) -> str:
    pool = FILLER + ITEMS + PLACES + ADJS
    return " ".join(rng.choice(pool) for _ in range(n))


def math_item(rng: random.Random) -> tuple[str, str]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a, b, c = rng.randint(3, 40), rng.randint(2, 9), rng.randint(2, 12)
    q = (f"{name} has {a} {item}. {name} buys {b} boxes with {c} {item} in each box, then gives "
         f"away {b + c} {item}. How many {item} does {name} have now?")
    total = a + b * c - (b + c)
    r = (f"Step 1: the boxes hold {b} x {c} = {b * c} {item}.\nStep 2: {a} + {b * c} = {a + b * c}.\n"
         f"Step 3: {a + b * c} - {b + c} = {total}.\nSo {name} has {total} {item}.")
    return q, r


def coding_item(rng: random.Random) -> tuple[str, str]:
    verb, thing = rng.choice(VERBS), rng.choice(THINGS)
    fname = f"{verb.rstrip('s')}_{rng.choice(ITEMS)}_{rng.randint(10, 999)}"
    q = f"Write a Python function `{fname}` that {verb} {thing} and returns the result."
    r = (f"```python\ndef {fname}(data):\n    \"\"\"{verb.capitalize()} {thing}.\"\"\"\n"
         f"    result = sorted(data)\n    return result\n```\nThe function {verb} the input in one pass.")
    return q, r


def creative_item(rng: random.Random) -> tuple[str, str]:
    adj, place, item = rng.choice(ADJS), rng.choice(PLACES), rng.choice(ITEMS)
    q = f"Write a short poem about a {adj} {place} full of {item}."
    lines = [f"In the {adj} {place} the {item} sleep,", f"{_words(rng, 6)},",
             f"{_words(rng, 7)},", f"and morning finds the {place} deep."]
    return q, "\n".join(lines)


def explain_item(rng: random.Random) -> tuple[str, str]:
    topic = rng.choice(TOPICS)
    q = f"Explain {topic} to a twelve-year-old in a few sentences. Mention one {rng.choice(ADJS)} example."
    r = f"{topic.capitalize()} is easiest to see with an example. " + _words(rng, 40).capitalize() + "."
    return q, r


def long_reply(rng: random.Random) -> tuple[str, str]:
    topic = rng.choice(TOPICS)
    q = f"Summarize what you know about {topic} and the {rng.choice(PLACES)} study in one paragraph."
    return q, _words(rng, 110).capitalize() + "."


MAKERS = [math_item, coding_item, creative_item, explain_item, long_reply]

JOBS = ["beekeeper", "lighthouse keeper", "glassblower", "cartographer", "ferry pilot", "archivist"]
EVAL_TOPICS = ["tidal locking", "soil salinity", "sourdough fermentation", "bridge resonance",
               "glacier calving", "ink chromatography"]


def eval_item(rng: random.Random) -> tuple[str, str]:
    """Holdout questions: a template family that no training maker uses."""
    if rng.random() < 0.6:
        place, n, k, m = rng.choice(PLACES), rng.randint(20, 90), rng.randint(2, 5), rng.randint(3, 19)
        q = (f"A ferry leaves the {place} pier at {k} o'clock carrying {n} passengers, stops twice, "
             f"and comes back {k} hours later with {m} more riders aboard. How many riders are on the "
             f"return crossing, and at what hour does the ferry dock?")
        return q, f"{n + m} riders; it docks at {2 * k} o'clock."
    topic, job = rng.choice(EVAL_TOPICS), rng.choice(JOBS)
    q = f"Describe why {topic} would matter to a working {job}, citing one concrete consequence."
    return q, f"For a {job}, {topic} changes daily decisions: " + _words(rng, 20) + "."


def _jsonl(records: list) -> bytes:
    out = []
    for r in records:
        out.append(r if isinstance(r, bytes) else json.dumps(r, sort_keys=True, ensure_ascii=False).encode())
    return b"\n".join(out) + b"\n"


def _write(name: str, data: bytes) -> None:
    path = HERE / name
    if name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def main() -> None:
    rng = random.Random(SEED)
    holdout = [eval_item(rng) for _ in range(20)]
    _write("holdout_eval.jsonl", _jsonl([{"question": q, "answer": a} for q, a in holdout]))

    # SFT, Alpaca-style: instruction/input/output; planted bad lines and contamination.
    sft = []
    for i in range(160):
        q, r = MAKERS[i % len(MAKERS)](rng)
        sft.append({"instruction": q, "input": "", "output": r, "category": MAKERS[i % len(MAKERS)].__name__})
    for j, (q, a) in enumerate(holdout[:4]):  # contamination: an eval item inside a longer prompt
        sft.append({"instruction": f"Here is a practice problem from my homework sheet. {q} Please show your work.",
                    "input": "", "output": a, "category": "math_item"})
    near = [dict(sft[k]) for k in range(4, 160, 25)]  # near duplicates of long replies
    for rec in near:
        words = rec["output"].split()
        words[len(words) // 2] = "lighthouse"
        rec["output"] = " ".join(words)
    sft += near
    lines = [json.dumps(r, sort_keys=True).encode() for r in sft]
    lines.insert(7, b'{"instruction": "Broken line with no closing brace", "output": "x"')
    lines.insert(19, json.dumps({"instruction": "What is two plus two?", "output": 4}).encode())
    lines.insert(33, json.dumps({"output": "A reply with no prompt at all."}).encode())
    lines.insert(41, b'{"instruction": "Bad bytes \xff\xfe here", "input": "", "output": "reply"}')
    lines.insert(55, json.dumps({"instruction": "   ", "input": "", "output": "An answer to nothing."}).encode())
    _write("sft_alpaca.jsonl", b"\n".join(lines) + b"\n")

    # Chat messages: planted roles that do not alternate, exact duplicates of SFT records, PII.
    chats = []
    for i in range(120):
        q, r = MAKERS[(i + 2) % len(MAKERS)](rng)
        turns = [{"role": "user", "content": q}, {"role": "assistant", "content": r}]
        if i % 6 == 0:
            q2, r2 = MAKERS[i % len(MAKERS)](rng)
            turns += [{"role": "user", "content": "Thanks. " + q2}, {"role": "assistant", "content": r2}]
        if i % 10 == 3:
            turns.insert(0, {"role": "system", "content": "You are a patient tutor."})
        chats.append({"messages": turns})
    for k in (10, 20, 30):  # exact duplicates once normalized: case and whitespace changed
        src = sft[k]
        chats.append({"messages": [{"role": "user", "content": "  " + src["instruction"].upper() + " "},
                                   {"role": "assistant", "content": src["output"].replace(" ", "  ")}]})
    chats.append({"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello?"},
                               {"role": "assistant", "content": "Hello."}]})
    chats.append({"messages": [{"role": "assistant", "content": "I speak first."},
                               {"role": "user", "content": "Odd."}]})
    chats.append({"messages": [{"role": "user", "content": "Please email my landlord at jordan.miles@fastmail.com "
                                "or call +1 415-555-0199 about the repair."},
                               {"role": "assistant", "content": "I drafted a short, polite note you can send."}]})
    chats.append({"messages": [{"role": "user", "content": "My card 4111 1111 1111 1111 was charged twice."},
                               {"role": "assistant", "content": "Contact your bank and ask for a chargeback."}]})
    _write("chat_messages.jsonl", _jsonl(chats))

    # Preference: prompt/chosen/rejected, plus HH-RLHF-style transcripts; one pair with equal replies.
    prefs = []
    for _ in range(90):
        q, good = MAKERS[rng.randrange(len(MAKERS))](rng)
        bad = "I am not sure. " + _words(rng, 12) + "."
        if rng.random() < 0.3:
            prefs.append({"chosen": f"\n\nHuman: {q}\n\nAssistant: {good}",
                          "rejected": f"\n\nHuman: {q}\n\nAssistant: {bad}"})
        else:
            prefs.append({"prompt": q, "chosen": good, "rejected": bad})
    prefs.append({"prompt": "Name a prime number.", "chosen": "Seven.", "rejected": "Seven."})
    prefs.append({"prompt": "Name an even number.", "chosen": "Four."})
    _write("preference_pairs.jsonl", _jsonl(prefs))

    # Synthetic, gzipped, with generator metadata per record.
    synth = []
    for i in range(140):
        q, r = MAKERS[(i + 1) % len(MAKERS)](rng)
        synth.append({"prompt": q, "completion": r,
                      "meta": {"temperature": round(rng.uniform(0.2, 1.0), 2)},
                      "model": rng.choice(["demo-gen-7b", "demo-gen-70b"])})
    q, a = holdout[12]
    synth.append({"prompt": q, "completion": a, "meta": {"temperature": 0.0}, "model": "demo-gen-7b"})
    synth.append({"prompt": "A record without its generator.", "completion": "It should be quarantined.",
                  "meta": {"temperature": 0.5}})
    loop = "I will check the ledger again to be sure.\n" * 40  # a degenerate, looping generation
    synth.append({"prompt": "Summarize the audit in one line.", "completion": loop,
                  "meta": {"temperature": 1.4}, "model": "demo-gen-7b"})
    synth.append({"prompt": "Tell me how the ferry timetable was planned.",
                  "completion": "As an AI language model, I cannot access timetables.",
                  "meta": {"temperature": 0.7}, "model": "demo-gen-7b"})
    _write("synthetic_generated.jsonl.gz", _jsonl(synth))

    # A CSV source whose license nobody recorded, and an empty file.
    rows = ["prompt,response"]
    for _ in range(25):
        q, r = explain_item(rng)
        rows.append(json.dumps(q) + "," + json.dumps(r))
    _write("scraped_unknown.csv", ("\n".join(rows) + "\n").encode())
    _write("empty_source.jsonl", b"")


if __name__ == "__main__":
    main()
