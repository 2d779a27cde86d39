"""components.data.align on the strings LLM answers give for assay descriptions."""

import pytest
import spacy

from components.data.align import align_mentions


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


def aligned(nlp, text, mentions):
    result = align_mentions(nlp.make_doc(text), mentions)
    return [(s.start_char, s.end_char, s.label_, s.text) for s in result.spans], result


def test_radioligand_with_isotope_brackets_spans_two_tokens(nlp):
    spans, result = aligned(
        nlp,
        "Displacement of [3H]NMS from human muscarinic M5 receptor",
        [("SUBSTRATE", "[3H]NMS"), ("TARGET", "muscarinic M5 receptor")],
    )
    assert spans == [(16, 23, "SUBSTRATE", "[3H]NMS"), (35, 57, "TARGET", "muscarinic M5 receptor")]
    assert result.notes == [] and result.unaligned == []


def test_labelled_peptide_with_hyphens_is_one_span(nlp):
    spans, _ = aligned(
        nlp,
        "Inhibition of SIRT1 using 5FAM-GEEPLYWSFPAKKK-NH2 as substrate",
        [("SUBSTRATE", "5FAM-GEEPLYWSFPAKKK-NH2")],
    )
    assert spans == [(26, 49, "SUBSTRATE", "5FAM-GEEPLYWSFPAKKK-NH2")]


def test_copolymer_written_with_other_spacing_matches_normalised(nlp):
    spans, result = aligned(
        nlp, "Inhibition of EGFR using poly (Glu, Tyr)4:1 as substrate", [("SUBSTRATE", "poly(Glu,Tyr) 4:1")]
    )
    assert spans == [(25, 43, "SUBSTRATE", "poly (Glu, Tyr)4:1")]
    assert result.notes == ["SUBSTRATE 'poly(Glu,Tyr) 4:1' matched 'poly (Glu, Tyr)4:1' (normalised)"]


def test_targets_sharing_words_as_one_phrase_or_apart(nlp):
    text = "Inhibition of human Cathepsins V and K"
    assert aligned(nlp, text, [("TARGET", "Cathepsins V and K")])[0] == [
        (20, 38, "TARGET", "Cathepsins V and K")
    ]
    spans, _ = aligned(nlp, text, [("TARGET", "Cathepsins V"), ("TARGET", "K")])
    assert spans == [(20, 32, "TARGET", "Cathepsins V"), (37, 38, "TARGET", "K")]


def test_every_repeated_mention_is_marked_and_several_per_label(nlp):
    spans, _ = aligned(
        nlp,
        "Inhibition of PDE4B using cAMP as substrate; selectivity for PDE4B over PDE4D",
        [("TARGET", "PDE4B"), ("TARGET", "PDE4D"), ("SUBSTRATE", "cAMP")],
    )
    assert [(s, label) for s, _, label, _ in spans] == [
        (14, "TARGET"), (26, "SUBSTRATE"), (61, "TARGET"), (72, "TARGET")
    ]  # fmt: skip


def test_case_differences_match_the_text_as_written(nlp):
    spans, result = aligned(nlp, "Inhibition of human jnk2 using atf2 as substrate", [("TARGET", "JNK2")])
    assert spans == [(20, 24, "TARGET", "jnk2")]
    assert result.notes == ["TARGET 'JNK2' matched 'jnk2' (case-insensitive)"]


def test_exact_case_wins_over_other_cases(nlp):
    spans, _ = aligned(nlp, "Binding to DNA and dna gyrase", [("TARGET", "DNA")])
    assert spans == [(11, 14, "TARGET", "DNA")]


def test_partial_word_is_snapped_to_the_token_and_noted(nlp):
    spans, result = aligned(nlp, "Inhibition of human EGFRvIII", [("TARGET", "EGFR")])
    assert spans == [(20, 28, "TARGET", "EGFRvIII")]
    assert "snapped TARGET 'EGFR' [20:24]" in result.notes[0]


def test_string_not_in_the_text_is_kept_as_unaligned(nlp):
    spans, result = aligned(nlp, "Inhibition of CYP3A4", [("TARGET", "CYP3A4 enzyme"), ("SUBSTRATE", "")])
    assert spans == []
    assert result.unaligned == [
        {"label": "TARGET", "text": "CYP3A4 enzyme"},
        {"label": "SUBSTRATE", "text": ""},
    ]


def test_same_span_under_two_labels_keeps_the_first(nlp):
    spans, result = aligned(
        nlp, "Activation of GLP-1 receptor by GLP-1", [("TARGET", "GLP-1"), ("SUBSTRATE", "GLP-1")]
    )
    assert [label for *_, label, _ in spans] == ["TARGET", "TARGET"]
    assert any("given as TARGET and SUBSTRATE" in note for note in result.notes)
