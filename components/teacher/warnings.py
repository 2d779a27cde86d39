"""What the offline teacher is worth, said wherever it is used (its log, the model card)."""

SMALL_TEACHER_WARNING = (
    "%s is a small offline stand-in for the production teacher Llama-3-70B-Instruct: on the "
    "hand-checked set SmolLM2-135M reaches TARGET F1 ~0.57 and SUBSTRATE F1 ~0.29 on its own, 0.62 and "
    "0.72 with the guideline cues (on real ChEMBL text tiny teachers reach TARGET F1 ~0.4-0.5); use "
    "--backend openai or hf for real annotation."
)
