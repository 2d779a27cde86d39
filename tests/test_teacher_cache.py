"""components.teacher.cache: keys from the encoder that shares the few-shot messages' encoding are
prompt_key's keys, whatever the prompts share or how they change."""

import json

from components.teacher.cache import AnswerCache, PromptEncoder, prompt_key

SYSTEM = {"role": "system", "content": "Find the assay's TARGET — «exactly» as written."}
SHOTS = [
    {"role": "user", "content": "Inhibition of human JNK2 using ATF2 as substrate"},
    {"role": "assistant", "content": '{"targets": ["JNK2"], "substrates": ["ATF2"]}'},
]


def prompt(text, shared=(SYSTEM, *SHOTS), grammar=None):
    p = {"text": text, "messages": [*shared, {"role": "user", "content": text}]}
    if grammar is not None:
        p["grammar"] = grammar
    return p


def test_keys_and_messages_are_those_of_the_whole_prompt():
    encoder = PromptEncoder("openai:m")
    prompts = [
        prompt("Inhibition of CDK9"),
        prompt("Binding to β2-adrenergic receptor", grammar='root ::= "{" "}"'),
        prompt("Inhibition of CDK9", shared=()),  # nothing shared
        prompt("Inhibition of PDE4B", shared=(SYSTEM,)),  # other shared messages
        prompt("Inhibition of PDE4B"),  # back to the first
    ]
    for p in prompts:
        encoded = encoder.encode(p)
        assert encoded.key == prompt_key("openai:m", p)
        assert json.loads(encoded.messages_json()) == p["messages"]
        assert encoder.messages_json(p) == encoded.messages_json()
    assert PromptEncoder("openai:other").encode(prompts[0]).key != encoder.encode(prompts[0]).key
    assert encoder.encode({"text": "x", "messages": []}).key == prompt_key(
        "openai:m", {"text": "x", "messages": []}
    )


def test_shared_messages_changed_in_place_give_new_keys():
    encoder = PromptEncoder("openai:m")
    shared = [dict(SYSTEM), *SHOTS]
    before = encoder.encode(prompt("Inhibition of CDK9", shared=shared)).key
    shared[0]["content"] = "Another instruction."
    changed = prompt("Inhibition of CDK9", shared=shared)
    assert encoder.encode(changed).key == prompt_key("openai:m", changed) != before


def test_cache_file_holds_shared_messages_once_per_file(tmp_path):
    encoder = PromptEncoder("openai:m")
    cache = AnswerCache(tmp_path)
    for text in ("a b c d", "e f g h"):
        p = prompt(text)
        cache.put(encoder.encode(p), "openai:m", p, f"answer {text}", 3, 1)
    reopened = AnswerCache(tmp_path)  # a later run: the shared messages are already in the file
    p = prompt("i j k l")
    reopened.put(encoder.encode(p), "openai:m", p, "answer", 3, 1)
    lines = [
        json.loads(line) for line in (tmp_path / "answers.jsonl").read_text(encoding="utf8").splitlines()
    ]
    assert ["shared_messages" in line for line in lines] == [True, False, False]
    assert lines[0]["shared_messages"] == [SYSTEM, *SHOTS]
    assert [line["last_message"]["content"] for line in lines] == ["a b c d", "e f g h", "i j k l"]
    assert AnswerCache(tmp_path).get(prompt_key("openai:m", prompt("e f g h"))) == {
        "model": "openai:m",
        "answer": "answer e f g h",
    }
