"""en_assay_ner's own code. Importing the package registers its spaCy factories and its
spacy-llm tasks and models, so configs can name them."""

from . import answer, bio_ner, int8, llm  # noqa: F401
