"""The label set, as defined in ANNOTATION_GUIDELINES.md. One place for names, definitions and colours."""

TARGET = "TARGET"
SUBSTRATE = "SUBSTRATE"
LABELS = (TARGET, SUBSTRATE)

DEFINITIONS = {
    TARGET: (
        "The biological macromolecule whose activity, binding or expression the assay measures: "
        "a protein, enzyme, receptor, ion channel, transporter, protein complex or nucleic acid. "
        "Only the name as written: no species, 'recombinant', tags, domains, mutations, cell lines. "
        "Organisms, cell lines, tissues and whole cells are not targets."
    ),
    SUBSTRATE: (
        "The molecule used to probe the target, not the compound under test: an enzyme substrate, "
        "a displaced radioligand or labelled tracer, a labelled probe peptide, or the agonist that "
        "stimulates the target. Cofactors (NADH, FAD, Mg2+), read-out reagents (MTT, resazurin, "
        "[35S]GTPgammaS) and cell stimuli (TNF-alpha, PMA) are not substrates."
    ),
}

# displaCy colours: warm for what is measured, cool for what probes it.
COLORS = {TARGET: "#f4a261", SUBSTRATE: "#8ecae6"}

# Keys of the compact JSON answer, per label.
ANSWER_KEYS = {TARGET: "targets", SUBSTRATE: "substrates"}


def check_labels(labels, source: str = "input") -> None:
    """Refuse labels outside the configured set, naming where they came from."""
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise ValueError(f"{source}: unknown label(s) {unknown}; expected one of {list(LABELS)}")
