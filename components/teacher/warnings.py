"""What the offline teacher is worth, said wherever it is used (its log, the model card)."""

SMALL_TEACHER_WARNING = (
    "%s is a small offline stand-in for the production teacher Llama-3-70B-Instruct. On 300 real "
    "ChEMBL descriptions labelled by hand, the default hybrid teacher (ChEMBL's phrasings by rule, the "
    "small model only where they name no target) reaches string F1 TARGET 0.83 and SUBSTRATE 0.74, "
    "the rules doing most of it; SmolLM2-135M alone reaches 0.49 and 0.00 (bench/RESULTS.md). Use "
    "--vars.llm_backend openai or hf for labels worth training on."
)
