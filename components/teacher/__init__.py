"""The teacher: LLM annotation through spacy-llm (tasks, models, cues, the answer cache, runs).

Importing this package registers nothing; `components.teacher.registry` registers the tasks and
models that configs/annotate.cfg names, and `annotate.load_annotator` imports it.
"""
