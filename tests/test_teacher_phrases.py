"""ChEMBL's phrasings read as TARGET and SUBSTRATE votes, on the guidelines' examples and on real
descriptions of the tuning set (assets/tuning.jsonl)."""

import pytest

from components.teacher.phrases import phenotypic, phrase_votes, plausible_target

T, S = "TARGET", "SUBSTRATE"


def answer(text):
    return [(vote.label, vote.text) for vote in phrase_votes(text)]


@pytest.mark.parametrize(
    "text,expected",
    [
        # ANNOTATION_GUIDELINES.md's examples
        ("Inhibition of human JNK2 at 1 uM using ATF2 as substrate", [(T, "JNK2"), (S, "ATF2")]),
        ("Displacement of [3H]NMS from human muscarinic M5 receptor expressed in CHO cells",
         [(T, "muscarinic M5 receptor"), (S, "[3H]NMS")]),
        ("Activation of human beta-adrenergic receptor by isoproterenol at 0.5 uM measured as increase in "
         "cAMP levels", [(T, "beta-adrenergic receptor"), (S, "isoproterenol")]),
        ("Mixed-type inhibition of mushroom tyrosinase using L-DOPA as substrate",
         [(T, "tyrosinase"), (S, "L-DOPA")]),
        ("Substrate activity at recombinant human NQO1 in presence of NADH and FAD by HPLC analysis",
         [(T, "NQO1")]),
        ("Cytotoxicity against human HepG2 cells assessed as cell viability by MTT assay", []),
        # Real descriptions: what the guidelines leave out of a name stays out.
        ("Inhibition of wild-type human full length MEK2 (M1 to V400 residues) expressed in mammalian "
         "expression system at 1 uM by Kinomescan method", [(T, "MEK2")]),
        ("Binding affinity to human partial length BRDT bromodomain 1 (N21 to E137 residues) expressed in "
         "bacterial expression system by BROMOscan assay", [(T, "BRDT")]),
        ("Inhibition of Homo sapiens (human) NEU1 expressed in HEK293 cells using 4MU-NeuAc as substrate at "
         "1 mM", [(T, "NEU1"), (S, "4MU-NeuAc")]),
        ("Binding affinity to calf thymus DNA assessed as intercalation after 2 hrs by UV-Vis absorption",
         [(T, "DNA")]),
        ("Inhibition of Mycobacterium tuberculosis InhA", [(T, "InhA")]),
        ("Inhibition of MET (cMet) (unknown origin) at 1 uM relative to control", [(T, "MET"), (T, "cMet")]),
        ("Inhibition of PI3K delta (unknown origin)", [(T, "PI3K delta")]),
        ("Inhibition of human His-tagged BRD4 bromodomain 2 expressed in Escherichia coli "
         "BL21(DE3)-R3-pRARE2 cells by FRET assay", [(T, "BRD4")]),
        # Readouts, mediators, partners and the agonist an antagonist competes with.
        ("Inhibition of LPS and INF-gamma-induced iNOS mRNA expression in mouse RAW264.7 cells by RT-PCR "
         "analysis", [(T, "iNOS")]),
        ("Inhibition of PHGDH-mediated serine synthesis in human Carney cells", [(T, "PHGDH")]),
        ("Inhibition of mTOR binding to DEPTOR in human RPMI8226 cells", [(T, "mTOR"), (T, "DEPTOR")]),
        ("Antagonist activity at human P2Y6R expressed in human 1321N1 cells assessed as inhibition of "
         "UDP-induced calcium mobilization by FLIPR assay", [(T, "P2Y6R"), (S, "UDP")]),
        ("Inhibition of [3H]CGS-21680 binding to adenosine A2a receptor of human striatal membrane",
         [(T, "adenosine A2a receptor"), (S, "[3H]CGS-21680")]),
        ("Displacement of ethidium bromide from calf thymus DNA assessed as fluorescence quenching",
         [(T, "DNA"), (S, "ethidium bromide")]),
        ("Inhibition of human Mnk2 using ATP and CREBtide (CKRREILSRRPSYRK) as substrate",
         [(T, "Mnk2"), (S, "ATP"), (S, "CREBtide")]),
        ("Selectivity for human recombinant 5HT2A receptor over human recombinant 5HT2C receptor",
         [(T, "5HT2A receptor"), (T, "5HT2C receptor")]),
        ("Induction of apoptosis in human T24 cells assessed as upregulation of Bcl-2 expression",
         [(T, "Bcl-2")]),
        # No target: a phenotype, an organism and its strain, a generic probe.
        ("Growth inhibition of human MCF7 cells after 48 hrs by SRB assay", []),
        ("In vitro inhibition of Plasmodium falciparum K1 (0.0024 ug/mL)", []),
        ("Displacement of biotinylated ligand from recombinant His-tagged EP300 (unknown origin)",
         [(T, "EP300")]),
        ("Inhibition of human TNF-alpha-induced NF-kB activation in HEK293 cells", [(T, "NF-kB")]),
    ],
)  # fmt: skip
def test_phrase_votes(text, expected):
    assert answer(text) == expected


def test_each_vote_names_its_rule():
    votes = phrase_votes("Displacement of [3H]NMS from human muscarinic M5 receptor")
    assert [v.rule for v in votes] == ["displacement of Y from X", "displacement of Y from"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Antibacterial activity against Staphylococcus aureus ATCC 25923", True),
        ("Cytotoxicity against human HepG2 cells", True),
        ("Growth inhibition of human MCF7 cells after 48 hrs", True),
        ("In vivo antitumor activity against human HCT116 cells xenografted in mouse", True),
        ("Inhibition of human JNK2", False),
        ("Ratio of Kcat to Km for HIV1 reverse transcriptase", False),
    ],
)
def test_phenotypic(text, expected):
    assert phenotypic(text) is expected


@pytest.mark.parametrize(
    "name,expected",
    [
        ("Caspase-1", "Caspase-1"),
        ("human MC1R", "MC1R"),
        ("HIV1 reverse transcriptase", "HIV1 reverse transcriptase"),
        ("liver microsomal squalene synthase", "squalene synthase"),
        ("HL60 cells", None),
        ("Staphylococcus aureus", None),
        ("[3H]DAGO", None),
        ("DNA-binding affinity", None),
        ("Kreact", None),
        ("heart rate", None),
    ],
)
def test_plausible_target(name, expected):
    assert plausible_target(name) == expected
