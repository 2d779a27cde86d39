"""The code that ships inside en_assay_ner: `spacy package --code` copies these modules, and only
these, into the wheel, where the installed model imports them on its own.

- `labels`: the label set, the answer keys and the doc-level answer rule (plain functions);
- `answer`: the `assay_answer` component that sets `doc._.targets` / `doc._.substrates`;
- `bio_ner`: the `bio_ner` entity head, with a confidence for every entity;
- `bucketing`: the transformer architecture that predicts in groups of similar word-piece length;
- `int8`: int8 quantisation of the transformer when loaded on a CPU (on by default).

Nothing here imports from the rest of the project. Importing this package registers nothing:
the component modules register their factories when they are imported, which project code does
only to build or load a pipeline directory (`components.inference.load.load_pipeline`), so that a
process that loads the installed en_assay_ner runs the wheel's copies alone.
"""
