"""components.data.align on the strings LLM answers give for assay descriptions."""

import pytest
import spacy

from components.data.align import align_mentions, drop_overlaps


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


# An occurrence that stands as a word wins over one inside a longer token, and an overlap costs only
# the occurrence that overlaps.


def at(text, word, nth=0):
    """(start, end) of the nth occurrence of `word` in `text`."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(word, start + 1)
    return start, start + len(word)


@pytest.mark.parametrize("substrates_first", [False, True])
def test_string_inside_a_longer_token_leaves_its_word_occurrences_marked(nlp, substrates_first):
    text = "Inhibition of FGFR1 assessed as FGF-induced phosphorylation followed by FGF addition"
    mentions = [("TARGET", "FGFR1"), ("SUBSTRATE", "FGF")]
    spans, result = aligned(nlp, text, mentions[::-1] if substrates_first else mentions)
    assert spans == [
        (*at(text, "FGFR1"), "TARGET", "FGFR1"),
        (*at(text, "FGF", 1), "SUBSTRATE", "FGF"),
        (*at(text, "FGF", 2), "SUBSTRATE", "FGF"),
    ]
    assert result.notes == [] and result.unaligned == []


def test_word_found_only_without_case_wins_over_exact_case_inside_a_token(nlp):
    # "GABA" as written occurs only inside "GABAA"; the word itself is written "gaba".
    text = "Potentiation of gaba-induced chloride current at human GABAA receptor"
    spans, result = aligned(nlp, text, [("TARGET", "GABAA receptor"), ("SUBSTRATE", "GABA")])
    assert spans == [
        (*at(text, "gaba"), "SUBSTRATE", "gaba"),
        (*at(text, "GABAA receptor"), "TARGET", "GABAA receptor"),
    ]
    assert result.notes == ["SUBSTRATE 'GABA' matched 'gaba' (case-insensitive)"]


def test_word_found_only_when_normalised_wins_over_exact_inside_a_token(nlp):
    text = "Inhibition of biotinylated IL 2 binding to human IL-2Ralpha"
    spans, result = aligned(nlp, text, [("TARGET", "IL-2Ralpha"), ("SUBSTRATE", "IL-2")])
    assert spans == [
        (*at(text, "IL 2"), "SUBSTRATE", "IL 2"),
        (*at(text, "IL-2Ralpha"), "TARGET", "IL-2Ralpha"),
    ]
    assert result.notes == ["SUBSTRATE 'IL-2' matched 'IL 2' (normalised)"]


def test_exact_case_inside_a_token_is_used_when_no_pass_finds_a_word(nlp):
    spans, result = aligned(nlp, "Inhibition of human EGFRvIII and egfrviii mutants", [("TARGET", "EGFR")])
    assert spans == [(20, 28, "TARGET", "EGFRvIII")]
    assert result.notes == ["snapped TARGET 'EGFR' [20:24] to token boundaries 'EGFRvIII' [20:28]"]


def test_overlap_with_the_other_label_drops_only_that_occurrence(nlp):
    text = "Inhibition of human glycolate oxidase using glycolate as substrate"
    spans, result = aligned(nlp, text, [("TARGET", "glycolate oxidase"), ("SUBSTRATE", "glycolate")])
    assert spans == [
        (*at(text, "glycolate oxidase"), "TARGET", "glycolate oxidase"),
        (*at(text, "glycolate", 1), "SUBSTRATE", "glycolate"),
    ]
    assert result.notes == ["dropped overlapping SUBSTRATE 'glycolate'"]


def test_span_on_token_boundaries_beats_one_widened_to_them(nlp):
    # "FGF" stands nowhere as a word: its occurrences are widened to "FGFR1" and "FGF2". The widened
    # copy of "FGFR1" loses to the TARGET given as written, even though the SUBSTRATE came first.
    text = "Inhibition of FGFR1 assessed as inhibition of FGF2 induced phosphorylation"
    spans, result = aligned(nlp, text, [("SUBSTRATE", "FGF"), ("TARGET", "FGFR1")])
    assert spans == [
        (*at(text, "FGFR1"), "TARGET", "FGFR1"),
        (*at(text, "FGF2"), "SUBSTRATE", "FGF2"),
    ]
    assert "'FGFR1' given as TARGET and SUBSTRATE; kept TARGET" in result.notes


def test_widened_span_loses_an_overlap_even_when_longer(nlp):
    # A SUBSTRATE string stretched from inside a token over the TARGET: widened, it is the longer
    # span, but the TARGET written on token boundaries is kept.
    text = "Displacement of [125I]iodocyanopindolol from rat beta1-adrenergic receptor"
    mentions = [("SUBSTRATE", "iodocyanopindolol from rat beta1"), ("TARGET", "beta1-adrenergic receptor")]
    spans, result = aligned(nlp, text, mentions)
    assert spans == [(*at(text, "beta1-adrenergic receptor"), "TARGET", "beta1-adrenergic receptor")]
    assert result.notes[-1] == "dropped overlapping SUBSTRATE '125I]iodocyanopindolol from rat beta1'"


def test_preferred_label_wins_overlaps_and_leaves_other_occurrences(nlp):
    text = "Inhibition of EGF-induced phosphorylation of human EGFR followed by EGF stimulation"
    # A substrate contained in a target string still marks its own word occurrences.
    spans, _ = aligned(nlp, text, [("TARGET", "EGFR"), ("SUBSTRATE", "EGF")])
    assert [(t, label) for *_, label, t in spans] == [
        ("EGF", "SUBSTRATE"),
        ("EGFR", "TARGET"),
        ("EGF", "SUBSTRATE"),
    ]
    # A substrate string stretched over the target: with TARGET preferred the target stays.
    mentions = [("TARGET", "JNK2"), ("SUBSTRATE", "human JNK2"), ("SUBSTRATE", "ATF2")]
    text = "Inhibition of human JNK2 at 1 uM using ATF2 as substrate"
    result = align_mentions(nlp.make_doc(text), mentions, prefer=["TARGET"])
    assert [(s.text, s.label_) for s in result.spans] == [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]
    assert result.notes == ["dropped overlapping SUBSTRATE 'human JNK2'"]
    # Without a preference the longest span wins.
    spans, _ = aligned(nlp, text, mentions)
    assert [(t, label) for *_, label, t in spans] == [("human JNK2", "SUBSTRATE"), ("ATF2", "SUBSTRATE")]


def test_same_string_twice_marks_its_tokens_once(nlp):
    spans, result = aligned(nlp, "Inhibition of PDE4B", [("TARGET", "PDE4B"), ("TARGET", "pde4b")])
    assert spans == [(14, 19, "TARGET", "PDE4B")]
    assert result.notes == ["TARGET 'pde4b' matched 'PDE4B' (case-insensitive)"]


def test_drop_overlaps_keeps_the_longest_then_the_earliest_unless_ranked(nlp):
    doc = nlp.make_doc("a b c d e f")
    spans = [doc[0:2], doc[1:4], doc[3:5], doc[5:6], doc[4:6]]
    kept, notes = drop_overlaps(spans)
    assert kept == [doc[1:4], doc[4:6]]
    assert notes == ["dropped overlapping  'a b'", "dropped overlapping  'd e'", "dropped overlapping  'f'"]
    kept, _ = drop_overlaps(spans, rank=lambda span: span.start)
    assert kept == [doc[0:2], doc[3:5], doc[5:6]]
