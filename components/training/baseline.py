"""The plain-transformers baseline: a token-classification fine-tuning loop on the same data and backbone.

It is the bar our spaCy pipeline has to clear. Words are spaCy's tokens, labels BIO on the first
sub-word of each word (the usual recipe), AdamW with linear decay. Writes the fine-tuned model
(for bench/inference_speed.py) and its predictions on the hand-checked set as a DocBin that
`scripts.evaluate --extra baseline=...` scores beside ours.
"""

import logging
import random
import time
from pathlib import Path

from spacy.tokens import Span
from tqdm import tqdm

from components.data.docs import read_docbin, write_docbin
from components.pipeline.bio_ner import bio_tags
from components.pipeline.labels import LABELS
from components.training.transformer import resolve_transformer

logger = logging.getLogger("assay_ner")

TAGS = bio_tags(LABELS)


def doc_tags(doc) -> list[str]:
    return ["O" if t.ent_iob_ == "O" else f"{t.ent_iob_}-{t.ent_type_}" for t in doc]


def encode(tokenizer, docs, with_labels: bool):
    enc = tokenizer(
        [[t.text for t in doc] for doc in docs],
        is_split_into_words=True,
        truncation=True,
        max_length=256,
        padding=True,
        return_tensors="pt",
    )
    if with_labels:
        import torch

        labels = []
        for i, doc in enumerate(docs):
            tags, previous, row = doc_tags(doc), None, []
            for word in enc.word_ids(i):
                row.append(-100 if word is None or word == previous else TAGS.index(tags[word]))
                previous = word
            labels.append(row)
        enc["labels"] = torch.tensor(labels)
    return enc


def tags_to_ents(doc, tags: list[str]):
    """BIO tags on `doc`'s words to spans; a stray I- starts a new entity, as seqeval reads it."""
    ents, start, label = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, tag_label = tag.partition("-")
        if start is not None and (prefix != "I" or tag_label != label):
            ents.append(Span(doc, start, i, label=label))
            start = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, label = i, tag_label
    return ents


def predict(model, tokenizer, docs, batch_size: int = 32):
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(docs), batch_size):
            batch = docs[i : i + batch_size]
            enc = encode(tokenizer, batch, with_labels=False)
            ids = model(**enc.to(model.device)).logits.argmax(-1)
            for j, doc in enumerate(batch):
                tags = ["O"] * len(doc)
                previous = None
                for k, word in enumerate(enc.word_ids(j)):
                    if word is not None and word != previous:
                        tags[word] = TAGS[int(ids[j, k])]
                    previous = word
                pred = doc.copy()
                pred.ents = tags_to_ents(pred, tags)
                out.append(pred)
    return out


def train_baseline(
    train: Path,
    handchecked: Path,
    output: Path,
    transformer: str,
    gpu_id: int,
    epochs: int,
    batch_size: int,
    learn_rate: float,
    seed: int,
) -> Path:
    """Fine-tune on `train`, save the model to OUTPUT/model and its predictions on the hand-checked
    texts to OUTPUT/handchecked.spacy (returned)."""
    import spacy
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    choice = resolve_transformer(transformer)
    device = torch.device(f"cuda:{gpu_id}" if gpu_id >= 0 else "cpu")
    logger.info("baseline: plain token classification on %s (%s), %s", choice.label, choice.name, device)
    vocab = spacy.blank("en").vocab
    train_docs = read_docbin(train, vocab)
    gold = read_docbin(handchecked, vocab)
    tokenizer = AutoTokenizer.from_pretrained(choice.name)
    model = AutoModelForTokenClassification.from_pretrained(
        choice.name,
        num_labels=len(TAGS),
        id2label=dict(enumerate(TAGS)),
        label2id={tag: i for i, tag in enumerate(TAGS)},
    ).to(device)
    steps = epochs * -(-len(train_docs) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learn_rate, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    rng = random.Random(seed)
    start = time.perf_counter()
    for epoch in tqdm(range(epochs), desc="baseline", unit="epoch"):
        model.train()
        order = list(train_docs)
        rng.shuffle(order)
        total = 0.0
        for i in range(0, len(order), batch_size):
            batch = encode(tokenizer, order[i : i + batch_size], with_labels=True).to(device)
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += loss.item()
        logger.debug("epoch %d loss %.3f", epoch + 1, total)
    logger.info("trained %d steps in %.0f s", steps, time.perf_counter() - start)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output / "model")
    tokenizer.save_pretrained(output / "model")
    predictions = output / "handchecked.spacy"
    write_docbin(predictions, predict(model, tokenizer, gold))
    return predictions
