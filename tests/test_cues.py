"""The guideline's SUBSTRATE phrasings, found in text and merged into a teacher's answer."""

import pytest

from components.llm.cues import apply_cues, cue_substrates

USING = "using X as substrate"
DISPLACED = "displacement of [isotope]X from"


@pytest.mark.parametrize(
    "text,found",
    [
        ("Inhibition of human JNK2 at 1 uM using ATF2 as substrate", [("ATF2", USING)]),
        ("Mixed-type inhibition of mushroom tyrosinase using L-DOPA as substrate", [("L-DOPA", USING)]),
        ("Inhibition of MMP-13 using Mca-PLGL-Dpa as a fluorogenic substrate", [("Mca-PLGL-Dpa", USING)]),
        ("Inhibition of LRRK2 using ATP and LRRKtide as substrates", [("ATP", USING), ("LRRKtide", USING)]),
        ("Inhibition of SYK using ATP/Ulight-TK as substrate", [("ATP", USING), ("Ulight-TK", USING)]),
        ("Inhibition of IGF1R using poly(Glu, Tyr) 4:1 as substrate", [("poly(Glu, Tyr) 4:1", USING)]),
        ("Displacement of [3H]NMS from human muscarinic M5 receptor", [("[3H]NMS", DISPLACED)]),
        ("Displacement of [125I]-PYY from human neuropeptide Y Y2 receptor", [("[125I]-PYY", DISPLACED)]),
        # No cue: the phrase around the name is another one, or the ligand carries no isotope.
        ("Inhibition of PDE4B using a kit in presence of cAMP as substrate", []),
        ("Displacement of fluorescent ligand from human A2A receptor", []),
        ("Substrate activity at recombinant human NQO1 in presence of NADH and FAD by HPLC analysis", []),
        ("Cytotoxicity against human HepG2 cells assessed as cell viability by MTT assay", []),
    ],
)  # fmt: skip
def test_cue_substrates(text, found):
    assert cue_substrates(text) == found


def test_a_cue_overrides_overlapping_strings_and_says_so():
    text = "Mixed-type inhibition of mushroom tyrosinase using L-DOPA as substrate"
    mentions, notes = apply_cues(
        text, [("TARGET", "tyrosinase"), ("TARGET", "L-DOPA"), ("SUBSTRATE", "DOPA")]
    )
    assert mentions == [("TARGET", "tyrosinase"), ("SUBSTRATE", "L-DOPA")]
    assert notes == [
        "cue: TARGET 'L-DOPA' gave way to SUBSTRATE 'L-DOPA'",
        "cue: SUBSTRATE 'DOPA' gave way to SUBSTRATE 'L-DOPA'",
        "cue: SUBSTRATE 'L-DOPA' (using X as substrate)",
    ]


def test_an_answer_that_agrees_is_left_as_it_is():
    text = "Inhibition of human JNK2 at 1 uM using ATF2 as substrate"
    answer = [("TARGET", "JNK2"), ("SUBSTRATE", "ATF2")]
    assert apply_cues(text, answer) == (answer, [])
    no_cue = "Inhibition of human JNK2 in presence of [gamma-33P]ATP"
    assert apply_cues(no_cue, [("TARGET", "JNK2")]) == ([("TARGET", "JNK2")], [])
