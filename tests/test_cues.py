"""The guideline cues: corrections of a teacher's answer that drop what the guidelines exclude and
never add a name."""

import pytest

from components.teacher.cues import apply_cues


@pytest.mark.parametrize(
    "text,answer",
    [
        # The teacher's boundaries stay: "MEK1" of "unactive MEK1", "DOPA" of "L-DOPA".
        ("Inhibition of BRAF using unactive MEK1 as substrate", [("TARGET", "BRAF"), ("SUBSTRATE", "MEK1")]),
        ("Mixed-type inhibition of mushroom tyrosinase using L-DOPA as substrate",
         [("TARGET", "tyrosinase"), ("SUBSTRATE", "DOPA")]),
        # A substrate named inside the target's name is another molecule.
        ("Inhibition of glycolate oxidase using glycolate as substrate",
         [("TARGET", "glycolate oxidase"), ("SUBSTRATE", "glycolate")]),
        ("Inhibition of human JNK2 at 1 uM using ATF2 as substrate",
         [("TARGET", "JNK2"), ("SUBSTRATE", "ATF2")]),
        ("Inhibition of human JNK2 in presence of [gamma-33P]ATP", [("TARGET", "JNK2")]),
    ],
)  # fmt: skip
def test_an_answer_that_follows_the_guidelines_is_left_as_it_is(text, answer):
    assert apply_cues(text, answer) == (answer, [])


def test_no_name_is_added_where_the_teacher_named_none():
    text = "Inhibition of human JNK2 at 1 uM using ATF2 as substrate"
    assert apply_cues(text, [("TARGET", "JNK2")]) == ([("TARGET", "JNK2")], [])
    assert apply_cues(text, []) == ([], [])


@pytest.mark.parametrize(
    "text,answer,kept,note",
    [
        (
            "Substrate activity at recombinant human NQO1 in presence of NADH and FAD by HPLC analysis",
            [("TARGET", "NQO1"), ("SUBSTRATE", "NADH"), ("SUBSTRATE", "FAD")],
            [("TARGET", "NQO1")],
            "cue: dropped SUBSTRATE 'NADH': a cofactor or read-out reagent",
        ),
        (
            "Cytotoxicity against human HepG2 cells assessed as cell viability by MTT assay",
            [("TARGET", "HepG2"), ("SUBSTRATE", "MTT")],
            [],
            "cue: dropped TARGET 'HepG2': a cell line",
        ),
        (
            "Inhibition of GST-tagged human PIM1 in presence of [gamma-33P]ATP",
            [("TARGET", "PIM1"), ("SUBSTRATE", "[gamma-33P]ATP")],
            [("TARGET", "PIM1")],
            "cue: dropped SUBSTRATE '[gamma-33P]ATP': ATP that the text does not call the substrate",
        ),
        (  # a target named in a cell assay is still one
            "Inhibition of LSD1 in human MGC-803 cells",
            [("TARGET", "LSD1"), ("TARGET", "MGC-803")],
            [("TARGET", "LSD1")],
            "cue: dropped TARGET 'MGC-803': a cell line",
        ),
    ],
)
def test_what_the_guidelines_exclude_is_dropped(text, answer, kept, note):
    mentions, notes = apply_cues(text, answer)
    assert mentions == kept
    assert note in notes


@pytest.mark.parametrize(
    "text",
    [
        "Inhibition of human LRRK2 using ATP and LRRKtide as substrates",
        "Inhibition of human Mnk2 using ATP substrate in presence of CREBtide",
        "Inhibition of human SYK using substrate ATP and ULight-TK peptide",
    ],
)
def test_atp_that_the_text_calls_a_substrate_stays(text):
    answer = [("TARGET", text.split()[3]), ("SUBSTRATE", "ATP")]
    assert apply_cues(text, answer) == (answer, [])


def test_a_receptor_name_cut_short_is_completed():
    text = (
        "Activation of human beta-adrenergic receptor by isoproterenol at 0.5 uM measured as increase in cAMP"
    )
    mentions, notes = apply_cues(text, [("TARGET", "beta-adrenergic"), ("SUBSTRATE", "isoproterenol")])
    assert mentions == [("TARGET", "beta-adrenergic receptor"), ("SUBSTRATE", "isoproterenol")]
    assert notes == ["cue: TARGET 'beta-adrenergic' completed to 'beta-adrenergic receptor'"]
    # Not where the occurrences disagree, nor where the name is already whole.
    both = "Binding to beta2 receptor over beta2 in rat"
    assert apply_cues(both, [("TARGET", "beta2")]) == ([("TARGET", "beta2")], [])
    whole = [("TARGET", "beta-adrenergic receptor")]
    assert apply_cues(text, whole + [("SUBSTRATE", "isoproterenol")])[1] == []
