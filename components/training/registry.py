"""What `spacy train --code` imports: the shipped components, so that configs/ner.cfg can name them."""

from components.pipeline import answer, bio_ner, bucketing, int8  # noqa: F401
