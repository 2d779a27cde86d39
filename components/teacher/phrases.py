"""ChEMBL's frequent phrasings, read as votes for TARGET and SUBSTRATE names.

ChEMBL writes most assay descriptions in a handful of shapes: "Inhibition of human recombinant X
expressed in ...", "Binding affinity to X (unknown origin)", "Displacement of [3H]Y from X",
"Antagonist activity at X assessed as inhibition of Y-induced ...", "... using Y as substrate".
Each rule finds one shape, cuts the name out and trims what ANNOTATION_GUIDELINES.md leaves out
of a name: species and tissue, "recombinant", tags, residue ranges, mutations, domains, the source
of a nucleic acid. A rule's answer is a Vote that carries the rule's name; the hybrid task
(components.teacher.task) takes the votes before a small model's answer and keeps them all in the
document's meta. Tuned on assets/tuning.jsonl only (bench/RESULTS.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.pipeline.labels import SUBSTRATE, TARGET


@dataclass(frozen=True)
class Vote:
    label: str
    text: str
    rule: str


def _any(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


def _balanced(name: str) -> bool:
    return all(name.count(o) == name.count(c) for o, c in ("()", "[]", "{}"))


# Where a name ends ---------------------------------------------------------------------------

# A name runs until one of these words starts the rest of the description. Lower case only:
# "Aurora A" and "In" inside a name are no stop.
_STOP_WORDS = (
    "expressed", "expressing", "in", "at", "using", "by", "assessed", "after", "for", "measured",
    "incubated", "preincubated", "pre-incubated", "pretreated", "relative", "with", "from", "via",
    "as", "transfected", "stably", "co-expressed", "coexpressed", "prepared", "under", "upon",
    "during", "containing", "was", "were", "is", "are", "determined", "on", "through", "into",
    "over", "versus", "vs", "compared", "treated", "followed", "up", "obtained", "derived",
    "produced", "activity", "mediated", "dependent", "induced", "stimulated", "binding", "level",
    "levels", "expression", "phosphorylation", "to", "against", "towards", "toward", "of", "that",
    "which", "when", "where", "the", "overexpressed", "overexpressing", "present", "including",
    "within", "between", "analysed", "analyzed", "tested", "infected", "harboring", "harbouring",
    "carrying", "bearing", "lacking", "deficient", "xenografted", "enzyme",
)  # fmt: skip
_STOP = re.compile(
    r"\s+" + _any(*map(re.escape, _STOP_WORDS)) + r"\b|\s*[,;:]\s|\s*\.\s|\s*\.$|\s+-\s|\s+[=<>]"
    # a parenthesis that opens a residue range or an origin, not a name: "(1 to 364 residues)"
    r"|\s+\((?:unknown|\d|[A-Z]\d+ to|amino|residues|aa\b|full|partial)"
)


def _head(text: str, start: int) -> str:
    """The text from `start` up to the first stop outside brackets."""
    depth = 0
    for i in range(start, len(text)):
        char = text[i]
        if char in "([{":
            if depth == 0 and i > start and _STOP.match(text, i - 1):
                return text[start : i - 1] if text[i - 1].isspace() else text[start:i]
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif depth == 0 and (char.isspace() or char in ",;:.=<>-") and _STOP.match(text, i):
            return text[start:i]
    return text[start:]


# What the guidelines leave out of a name ------------------------------------------------------

_SPECIES = (
    "human", "humans", "rat", "rats", "mouse", "murine", "bovine", "porcine", "equine", "canine",
    "feline", "ovine", "chicken", "dog", "pig", "rabbit", "guinea pig", "monkey", "rhesus",
    "rhesus monkey", "yeast", "bacterial", "mushroom", "insect", "hamster", "sheep", "calf", "cow",
    "horse", "electric eel", "eel", "zebrafish", "mammalian", "viral", "fungal", "plant",
    "porcine pancreatic", "Homo sapiens", r"Homo sapiens \(human\)", "cynomolgus",
    "cynomolgus monkey", "marmoset", "ferret", "drosophila", "salmon", "herring", "avian", "primate",
    "rodent", "jack bean", "parasite", "parasitic",
)  # fmt: skip
_TISSUES = (
    "liver", "brain", "serum", "uterine", "uterus", "kidney", "heart", "lung", "striatal", "striatum",
    "cortical", "cortex", "cerebral", "cerebellar", "hippocampal", "erythrocyte", "red blood cell",
    "placental", "placenta", "intestinal", "hepatic", "renal", "cardiac", "muscle", "skeletal muscle",
    "spleen", "thymus", "calf thymus", "salmon sperm", "herring sperm", "sperm", "blood",
    "chicken blood", "plasma", "platelet", "pancreatic", "microsomal", "mitochondrial", "cytosolic",
    "nuclear", "membrane", "synaptosomal", "neuronal", "adrenal", "lens", "retinal", "prostate",
    "testis", "skin", "bone", "adipose", "lymphocyte", "neutrophil", "macrophage", "whole", "crude",
    "cell", "forebrain", "brainstem", "spinal cord", "submaxillary gland", "vas deferens", "ileum",
    "aorta", "aortic", "tracheal", "bladder", "colon", "colonic", "gastric", "stomach", "duodenal",
)  # fmt: skip
_MODIFIERS = (
    "recombinant", "purified", "partially purified", "cloned", "native", "wild-type", "wild type",
    "wildtype", "full length", "full-length", "partial length", "partial-length", "truncated",
    "soluble", "unactive", "inactive", "active", "activated", "immobilized", "isolated", "mature",
    "intact", "endogenous", "N-terminal", "C-terminal", "N-terminally", "C-terminally",
    "N-terminal/C-terminal", "amino-terminal", "carboxy-terminal", "tagged", "fused", "labelled",
    "labeled", "fluorescently", "phosphorylated", "unphosphorylated", "dephosphorylated",
    "nonphosphorylated", "non-phosphorylated", "mutant", "mutated", "modified", "genetically",
    "expressed", "human-derived", "synthetic", "double stranded", "double-stranded",
    "single stranded", "single-stranded", "supercoiled", "negatively supercoiled", "linear",
    "circular", "plasmid", "the", "a", "an", "of", "cell-free", "cellular", "membrane-bound",
    "enzyme", "target", "catalytic", "telomeric", "zanamivir/oseltamivir resistant", "resistant",
    "sensitive", "drug-resistant", "multidrug-resistant", "type", "form", "isoform",
)  # fmt: skip
_TAG = (
    r"\S+[-/ ](?:tagged|fused|conjugated|labell?ed)|\d+[xX]?His\d*|His\d*|GST|FLAG|MBP|Avi|eGFP|GFP"
    r"|SUMO\d?|Halo|TEV|Tev"
)
_LEADING = re.compile(
    r"^(?:\((?:[^()]|\([^()]*\))*\)"  # "(A/Moscow/10/99(H3N2)) Neuraminidase N2"
    + "|"
    + _any(*sorted({*_SPECIES, *_TISSUES, *_MODIFIERS}, key=len, reverse=True))
    + rf"|{_TAG}|biotin\S*|Myc)(?:\s+|-(?=\S)|$)",
    re.IGNORECASE,
)
# A genus and species ("Escherichia coli", "Mycobacterium tuberculosis"), a strain after it.
_GENUS = r"[A-Z][a-z]+(?:ia|ium|um|us|a|es|is|ella|bacter|monas|myces|coccus|cystis|ae|i)"
_PROTEIN_WORDS = (
    "kinase", "receptor", "receptors", "synthase", "oxidase", "reductase", "protease", "acid",
    "factor", "protein", "channel", "transporter", "hydrolase", "dehydrogenase", "phosphatase",
    "transferase", "isomerase", "ligase", "lyase", "esterase", "peptidase", "binding", "domain",
    "type", "cyclase", "deacetylase", "methyltransferase", "polymerase", "topoisomerase", "gyrase",
    "integrase", "toxin", "lactamase", "elastase", "carboxylase", "anhydrase", "oxygenase",
    "synthetase", "aminopeptidase",
)  # fmt: skip
_ORGANISM = re.compile(
    rf"^{_GENUS} (?!{_any(*_PROTEIN_WORDS)}\b)[a-z]{{3,}}\.?"
    r"(?: (?:subsp\.|var\.|strain|serotype|serovar|str\.) \S+)?(?: [A-Z]*\d[\w/-]*(?= |$))?(?:\s+|$)"
    r"|^(?:[A-Z][a-z]+ )?(?:[A-Z]\w* )?virus(?: \([^)]*\))? "
)
_SPECIES_INSIDE = re.compile(r"\s+(?:human|rat|mouse|murine|bovine|porcine|monkey)\s+\S+\s+cells?\b.*$")
# A strain left alone after its organism: "Plasmodium falciparum K1".
_STRAIN = re.compile(r"^(?:[A-Z]{1,4}-?)?\d[\w-]*$|^[A-Z]{1,2}\d{1,4}[a-z]?$")
_MUTATION = r"(?:[A-Z]\d+[A-Z*]|del\d\w*|ins\d\w*|exon\s?\d+\s?del\w*)(?:/[A-Z]\d+[A-Z*])*"
_DOMAIN = (
    r"(?:catalytic|kinase|ligand[- ]binding|ligand|DNA[- ]binding|extracellular|intracellular"
    r"|transmembrane|cytoplasmic|regulatory|N-terminal|C-terminal|ATPase|PDZ|SH2|SH3|BTB|PH|PHD"
    r"|Kelch|bromo|FERM|BIR\d?)(?: domains?)?(?: \d)?|(?:\S+ )?domains?(?: \d)?|bromodomains?(?: \d)?"
    r"|BD\d|LBD|KD|CD|ECD|ICD|DBD"
)
_TRAILING = re.compile(
    rf"(?:\s+(?:{_MUTATION}|(?:double|triple|single|point)? ?mutants?|{_DOMAIN}"
    r"|wild[- ]type|WT|isoform \w+|variant|protein|enzyme|subunit|fragment|homodimer|dimer|monomer"
    r"|aptamer|sequence|full|complex|gene|mRNA|tetramer|precursor|holoenzyme|pocket|model"
    r"|\([^()]*\bresidues?\b[^()]*\)|\(\d[^()]*\)|[A-Z]\d+-[A-Z]\d+"
    r"|(?:ATP|allosteric|active|binding|labelling|orthosteric) sites?)"
    r"|-(?:KD\d?|CD|LBD|SH2))$"
)
# Last words that make a phrase a process, a cell, a quantity or a generic word, not a molecule.
_NOT_A_NAME = re.compile(
    r"(?:^|\s|-)(?:cells?|cell lines?|growth|proliferation|aggregation|production|release|uptake"
    r"|formation|secretion|replication|infection|viability|death|apoptosis|survival|migration"
    r"|invasion|tumou?rs?|bacteria|virus|parasites?|strains?|isolates?|platelets?|neutrophils?"
    r"|lymphocytes?|macrophages?|erythrocytes?|tissues?|membranes?|homogenates?|extracts?|lysates?"
    r"|microsomes?|mitochondria|synaptosomes?|oocytes?|slices?|blood|plasma|serum|animals?|mice|rats?"
    r"|patients?|activity|effects?|contraction|relaxation|response|transport|accumulation"
    r"|degradation|efflux|influx|signaling|signalling|pathway|transcription|translation|generation"
    r"|synthesis|metabolism|induction|binding|hydrolysis|oxidation|peroxidation|phosphorylation"
    r"|polymerization|assembly|fusion|entry|adhesion|vasodilation|vasoconstriction|inflammation"
    r"|edema|oedema|pain|writhing|seizures?|convulsions?|damage|toxicity|stress|cycle|arrest"
    r"|division|differentiation|mobilization|flux|levels?|expression|concentration|potential"
    r"|currents?|conductance|permeability|ratio|yield|compounds?|drugs?|ligands?|radioligands?"
    r"|tracers?|probes?|inhibitors?|agonists?|antagonists?|substrates?|assay|method|analysis|test"
    r"|models?|system|buffer|solution|medium|media|polarization|regrowth|biofilms?|diuresis"
    r"|activation|lesions?|neovasculari[sz]ation|hybridi[sz]ation|cleavage|bone|dimeri[sz]ation"
    r"|oligomeri[sz]ation|bundling|structures?|complexation|morphological changes|multi-nuclei"
    r"|fragmentation|affinity|constants?|values?|index|IC50|EC50|Ki|Kd|Km|rate"
    r"|-induced|-stimulated|-evoked|-mediated|-dependent)$",
    re.IGNORECASE,
)
_NOT_FIRST_WORDS = {"and", "or", "of", "the", "its", "their", "this", "these", "compound", "compounds"}
_NUMBER = re.compile(r"^[\d.,/+\-x^ ]+(?:[a-zA-Z%/]{1,6}(?:/[a-z]+)?)?$")


def _strip(name: str, pattern: re.Pattern, *more: re.Pattern) -> str:
    """`name` with every match of the patterns removed, repeatedly, until none matches."""
    while True:
        stripped = name
        for p in (pattern, *more):
            stripped = p.sub("", stripped, count=1).strip()
        if stripped == name:
            return name
        name = stripped


def looks_like_a_name(name: str) -> bool:
    """A molecule's name, not a process, a cell or a generic word."""
    if len(name) < 2 or not _balanced(name) or _NOT_A_NAME.search(name) or _NUMBER.match(name):
        return False
    words = name.split()
    return len(words) <= 8 and words[0].lower() not in _NOT_FIRST_WORDS


def clean_name(raw: str) -> str | None:
    """The name inside a phrase's capture, trimmed as the guidelines mark names; None if no name."""
    name = raw.strip(" ,;:")
    lead = _strip(name, _ORGANISM, _LEADING)
    if lead != name and _ORGANISM.match(name) and _STRAIN.match(_strip(lead, _TRAILING)):
        return None  # "Plasmodium falciparum K1": an organism and its strain
    # A species and a cell line after the name: "SIRT1 human MDA-MB-231 cells".
    lead = _SPECIES_INSIDE.sub("", lead)
    name = _strip(lead, _TRAILING).strip(" ,;:-")
    while name and not _balanced(name) and name[-1] in "([{":  # "FGFR1 (" cut by a stop
        name = name[:-1].rstrip()
    return name if looks_like_a_name(name) else None


# Labels, probes and stimuli -------------------------------------------------------------------

# An isotope label: "[3H]", "[125I]", "[3-3H]", "3[H]", "[35S]", "125I-".
ISOTOPE = r"(?:\[\d*-?\d+[A-Z][a-z]?\s?\]|\d\[[A-Z][a-z]?\]|\b\d{1,3}(?:I|P|S|C|H)-|\[\d+[A-Z][a-z]?\d*\])"
_DYE = r"(?:FITC|FAM|BODIPY|biotin|TAMRA|fluorescein|Alexa|rhodamine|dansyl|Cy[35])"
# A name that carries an isotope, a dye or a tag: a probe, never a target.
LABELLED = re.compile(
    ISOTOPE + r"|tritiated|radiolabell?ed|\b(?:FITC|FAM|TAMRA|BODIPY|biotin\w*|fluorescein|Cy[35]|Alexa"
    r"|dansyl|NBD|rhodamine|Texas Red|europium|Eu|Tb|ULight|Fluo\w*|fluorescent)\b|-FITC|-FAM|FAM-|FITC-",
    re.IGNORECASE,
)
# Generic words that name no molecule: "Displacement of radioligand from", "a fluorescent probe".
GENERIC_PROBES = re.compile(
    r"^(?:(?:a|the|specific|selective|non-?selective)\s+)*(?:(?:fluorescent|fluorescently labell?ed"
    r"|biotinylated|labell?ed|radio-?labell?ed|tritiated|radioactive|[\w-]+[- ]specific|\S+-labell?ed"
    r"|high affinity|agonist|antagonist|standard|reference|known|tracer)\s+)*(?:radio)?(?:ligands?"
    r"|tracers?|probes?|compounds?|inhibitors?|agonists?|antagonists?|peptides?|substrates?"
    r"|radioligand binding|\S+-labell?ed|[\w-]+-based|DNA|RNA)$",
    re.IGNORECASE,
)
# Stimuli that act on the cells, not on the target (guidelines: no SUBSTRATE).
CELL_STIMULI = re.compile(
    r"^(?:LPS|lipopolysaccharide|TNF\S*|IL-?\d+\S*|interleukin\S*|IFN\S*|INF\S*|interferon\S*|PMA"
    r"|TPA|phorbol\S*|H2O2|hydrogen peroxide|FFA|DSS|STZ|streptozotocin|ConA|concanavalin\S*"
    r"|carrageenan|OVX|laser|cisplatin|oxaliplatin|glucose|high glucose|serum|FBS|hypoxia|UV"
    r"|insulin|forskolin|ionomycin|thapsigargin|anti-CD3|CD3|anti-IgE|IgE|fMLP|fMLF|ATP|scopolamine"
    r"|pentylenetetrazole|PTZ|capsaicin|formalin|acetic acid|histamine|ovalbumin|OVA|bleomycin"
    r"|ethanol|alcohol|noise|stress|light|cold|heat|Hz\S*)$",
    re.IGNORECASE,
)
# A name glued to what it does: "PHGDH-mediated", "EGF-induced", "ATP-dependent".
_GLUED = re.compile(
    r"(?<![\w()\[\],.'+:-])(?P<name>(?:(?!(?:of|in|at|by|the|and|with|for|on|to|as|from|a|an)\b)"
    r"[\w()\[\],.'+:]+[- /])??[\w()\[\],.'+:]+?)-(?P<how>induced|stimulated|evoked|elicited|mediated"
    r"|triggered|dependent|promoted|activated|challenged|catalyzed|catalysed|driven|specific)\b"
)
_CARRIED_OUT_BY = {"mediated", "dependent", "catalyzed", "catalysed", "driven"}
_CAUSED_BY = {"induced", "stimulated", "evoked", "elicited", "triggered", "challenged"}


# TARGET phrasings ---------------------------------------------------------------------------

# The phrase before a target: "Inhibition of", "Binding affinity to", "Agonist activity at".
_TARGET_ANCHOR = re.compile(
    r"\b(?P<anchor>(?:(?:competitive|reversible|irreversible|mixed[- ]type|non-?competitive"
    r"|uncompetitive|time[- ]dependent|slow[- ]binding|selective|percent(?:age)?|partial|in vitro"
    r"|direct|covalent|allosteric|specific|potent) )*(?:inhibition|inhibitory activity"
    r"|inhibitor activity|(?:binding )?affinity|(?:inverse |partial |full |biased )?agonist(?:ic)? activity"
    r"|antagonist(?:ic)? activity|antagonism|agonism|(?:positive|negative) allosteric modulat(?:ion"
    r"|or activity)|allosteric modulation|modulation|activation|stabili[sz]ation|inactivation|binding"
    r"|interaction|downregulation|down-regulation|dissociation constant|inhibit|inhibiting|blockade"
    r"|block|intercalation|displacement|selectivity|degradation|induction))"
    r" (?:of|to|at|for|against|towards|toward|on|with|into) (?:the )?"
    r"|\b(?P<at>(?:[\w-]+ )?activity) at (?:the )?",  # "Substrate activity at NQO1"
    re.IGNORECASE,
)
# "Displacement of [3H]NMS from X", "ability to displace ethidium bromide from X".
_DISPLACED_FROM = re.compile(
    r"\b(?:[Dd]isplacement|[Dd]isplace|[Dd]isplacing|[Ii]nhibition of binding|[Bb]inding) (?:of )?"
    r"(?P<probe>[^;]+?) (?:specific )?(?:binding )?(?:from|to) (?:the )?"
)
# An anchor after these words opens a phenotype, not a target: "Growth inhibition of".
_PHENOTYPE_BEFORE = re.compile(
    r"(?:growth|tumou?r|cell|cellular|bacterial|viral|parasite|fungal|biofilm|platelet|edema|oedema"
    r"|proliferation|replication|plaque|colony|weight|writhing|seizure|ulcer|swelling)\s+$",
    re.IGNORECASE,
)
# A readout between the anchor and the name: "Inhibition of radioligand binding to X".
_PROCESS_OF = re.compile(
    r"(?:[\w-]+ ){0,2}?(?:phosphorylation|autophosphorylation|dimerization|activity|activation"
    r"|expression|signaling|signalling|function|aggregation|polymerization|assembly|hybridization"
    r"|dephosphorylation|acetylation|deacetylation|methylation|ubiquitination|degradation|cleavage"
    r"|binding|recruitment|translocation|oligomerization|fibrillization|(?:binding )?site)"
    r" (?:of|to) (?:the )?",
    re.IGNORECASE,
)
# A readout after the name: "Inhibition of STAT5 phosphorylation".
_PROCESS_AFTER = re.compile(
    r"(?P<name>\S+(?: \S+)?) (?:phosphorylation|signaling|signalling|pathway|expression"
    r"|dimerization|activity|binding|mRNA|gene|transcription|levels?|protein|release|production"
    r"|secretion|function|autophosphorylation|aggregation|translocation|hybridization|formation"
    r"|activation|degradation)\b"
)
# Where no target phrase names one, the protein that the readout names: "upregulation of Bcl-2
# expression", "Effect on ITGB2 gene expression", "reduction in TNFalpha levels".
_READOUT = re.compile(
    r"\b(?:[Ee]ffect on|(?:up|down)[- ]?regulation of|[Ii]ncrease in|[Dd]ecrease in|[Rr]eduction in"
    r"|[Ii]nduction of|[Ii]nhibition of|[Ss]uppression of|[Ll]oss of|[Aa]ctivation of) (?:the )?"
    r"(?P<name>(?:\S+ ){0,2}?\S+?) (?:gene |mRNA |protein )*(?:expression|levels?|secretion"
    r"|production|release|phosphorylation|activity)\b"
)
# After the first target: "Selectivity for 5HT2A receptor over 5HT2C receptor".
_SECOND_TARGET = re.compile(r"\s+(?:over|versus|vs\.?|and|to)\s+(?:that of\s+|the\s+)?")
# A parenthesised alias: "MET (cMet)", "receptor gamma (PPAR gamma)".
_ALIAS = re.compile(r"\s*\((?P<alias>[^()\s]{2,20}(?: [^()\s]{1,10})?)\)$")
_NUCLEIC = re.compile(r"(?:DNA|RNA|dsDNA|ssDNA|tRNA|rRNA|mRNA|G-quadruplex|quadruplex)\b")
_DNA_ALONE = re.compile(r"(?<![\w-])DNA(?![\w-])")


def _molecule_of(name: str) -> str:
    """A nucleic acid named by its source is the molecule: "calf thymus DNA" -> "DNA"; a named one
    ("pBR322 DNA") stays."""
    match = re.search(r"(?:^|\s)(?P<head>DNA|RNA)$", name)
    if match and not re.search(r"[A-Z\d]", name[: match.start()]):
        return match.group("head")
    return name


def _names_in(phrase: str, rule: str) -> list[Vote]:
    """Target votes for the names in one noun phrase: "PDE4B and PDE4D", "MET (cMet)"."""
    # "LPS and INF-gamma-induced iNOS mRNA expression": the stimulus is no target.
    phrase = re.split(r"-(?:induced|stimulated) ", phrase)[-1]
    votes = []
    for part in re.split(r",\s+(?![^()]*\))|\s+and\s+(?![^()]*\))", phrase):
        process = _PROCESS_AFTER.match(part)
        if process and not clean_name(part):
            part = process.group("name")
        alias = _ALIAS.search(part)
        if alias and (
            not re.search(r"\d|[A-Z].*[A-Z]|\s", clean_name(part[: alias.start()]) or "")
            or re.match(r"[A-Z]\d+[A-Z]$", alias.group("alias"))
        ):
            alias = None  # "Poly (dG-dC)" is one name, "(H250N)" a mutation
        for raw in [part[: alias.start()], alias.group("alias")] if alias else [part]:
            name = clean_name(raw)
            if name and not LABELLED.search(name):
                votes.append(Vote(TARGET, _molecule_of(name), rule))
    return votes


def _target_phrase_starts(text: str) -> list[tuple[int, str]]:
    """(offset where a target's name may start, rule), in text order."""
    starts = [(m.end(), "displacement of Y from X") for m in _DISPLACED_FROM.finditer(text)]
    for match in _TARGET_ANCHOR.finditer(text):
        before = text[: match.start()]
        if _PHENOTYPE_BEFORE.search(before) or re.search(r"\bas\s+$", before):
            continue  # "Growth inhibition of", "assessed as inhibition of": a phenotype, a readout
        anchor = (match.group("anchor") or match.group("at")).lower()
        if not anchor.startswith("displacement"):
            starts.append((match.end(), anchor.split()[-1] + " of X"))
    return sorted(starts)


def _targets_at(text: str, start: int, rule: str) -> list[Vote]:
    process = _PROCESS_OF.match(text, start)
    partners: list[Vote] = []
    if process:
        # "Inhibition of mTOR binding to DEPTOR": both; "of radioligand binding to X": X alone.
        if re.search(r"\bbinding (?:of|to)", process.group(0)):
            before = re.sub(r"\s+\S+ (?:of|to)(?: the)?\s*$", "", process.group(0))
            partners = [v for v in _names_in(before, rule) if not GENERIC_PROBES.match(v.text)]
        start = process.end()
    glued = _GLUED.match(text, start)
    if glued and glued.group("how") in _CARRIED_OUT_BY:
        name = clean_name(glued.group("name"))  # "Inhibition of PHGDH-mediated serine synthesis"
        return [Vote(TARGET, name, "X-mediated")] if name else []
    head = _head(text, start)
    votes = _names_in(head, rule)
    second = _SECOND_TARGET.match(text, start + len(head))
    if votes and second and rule in {"selectivity of X", "affinity of X"}:
        votes += _names_in(_head(text, second.end()), rule)
    if not votes:
        return []
    votes = partners + votes
    if votes[-1].text != "DNA" and _NUCLEIC.search(head) and _DNA_ALONE.search(text.replace(head, " ")):
        votes.append(Vote(TARGET, "DNA", "DNA named again"))  # "at compound/DNA ratio 0.2"
    return votes


def target_votes(text: str) -> list[Vote]:
    """The targets of the description's first target phrase that names one; failing that, the
    protein its readout names."""
    for start, rule in _target_phrase_starts(text):
        votes = _targets_at(text, start, rule)
        if votes:
            return votes
    for match in _READOUT.finditer(text):
        if not _PHENOTYPE_BEFORE.search(text[: match.start()]):
            votes = _names_in(match.group("name"), "readout of X")
            if votes:
                return votes
    return []


# SUBSTRATE phrasings ------------------------------------------------------------------------

_ISOTOPE_NAME = rf"(?:\S*{ISOTOPE}\S*)"
_LABELLED_WORD = (
    rf"(?:biotinylated|fluorescent|{_DYE}[- ]labell?ed|biotin[- ]labell?ed|fluorescently labell?ed)"
)
_LABELLED_NAME = rf"(?:{_ISOTOPE_NAME}|{_LABELLED_WORD} \S+|\S*{_DYE}\S*)"
_NAME_PREFIX = re.compile(
    r"^(?:(?:the|a|an|fluorogenic|chromogenic|synthetic|specific|substrate|radioligand"
    r"|radiolabell?ed ligand|ligand|agonist|tracer|probe|using|by|\d+\s?% of(?: an?| the)?|DNA/|RNA/"
    r"|human|rat|mouse|bovine|recombinant|purified|unactive|inactive|active|kinase-dead|deaerated"
    r"|degassed|\d+(?:\.\d+)?\s?(?:[munp]?M|mg/ml|ug/ml|%))(?:\s+|$))+",
    re.IGNORECASE,
)
_NAME_SUFFIX = re.compile(
    r"(?:\s+(?:as|radioligand|probe|tracer|peptide substrate|substrate|chromogenic|fluorogenic|dye)"
    r"|\s+\((?!\d+:\d+\))[^()]*\))+$"  # "CREBtide (CKRREILSRRPSYRK)", not "poly[Glu:Tyr] (4:1)"
)
# A peptide named by its sequence drops the word: "5'FAM-KKSRGDYMTMQIG-CONH2 peptide".
_SEQUENCE_PEPTIDE = re.compile(r"(?P<sequence>\S*[A-Z]{4}\S*) peptide$")
_NAME_LIST = re.compile(r"\s+and\s+|/(?![^()\[\]]*[)\]])|,\s+(?![^()]*\))")

# (rule, pattern with a "names" group, whether a generic word such as "peptide" is a name there).
_SUBSTRATE_PHRASES = [
    (rule, re.compile(pattern), generic)
    for rule, pattern, generic in (
        ("using X as substrate",
         r"\busing\s+(?P<names>(?:(?!\b(?:in|with|by|at|for|from|after|of|to|as)\b)[^;])+?)\s+as\s+"
         r"(?:an?\s+|the\s+)?(?:[\w-]+\s+)?(?:co-?)?substrates?\b", True),
        ("using X substrate", r"\busing\s+(?P<names>(?!as\b)\S+(?:\s+(?!as\b)\S+)?)\s+substrate\b", True),
        ("displacement of Y from",
         r"\b[Dd]isplac(?:ement|ing|e)\s+(?:of\s+)?(?P<names>[^;]+?)\s+from\b", False),
        ("displacing [isotope]Y", rf"\b[Dd]isplac\w*\s+(?:of\s+)?(?P<names>{_ISOTOPE_NAME})", False),
        ("Y displacement assay", r"(?P<names>\S+(?: (?!using\b)\S+)?)(?: dye)? displacement assay", False),
        ("[label]Y binding",
         rf"(?P<names>{_LABELLED_NAME}(?: (?!specific\b)[a-z]+)?) (?:specific )?binding\b", False),
        ("using labelled Y probe",
         rf"\busing (?P<names>(?:{_LABELLED_WORD} |\S*{_DYE})[^;]{{0,60}}?) (?:probe|tracer)\b", False),
        ("binding of Y to", rf"\bbinding of\s+(?P<names>{_ISOTOPE_NAME}|\S*{_DYE}\S*)\s+to\b", False),
        ("radioligand [isotope]Y", rf"\b(?:radioligand|tracer|probe)\s+(?P<names>{_ISOTOPE_NAME})", False),
        ("[isotope]Y as radioligand",
         rf"(?P<names>{_ISOTOPE_NAME})\s+(?:as\s+(?:a\s+|the\s+)?)?radioligand", False),
        ("using [isotope]Y", rf"\busing\s+(?P<names>{_ISOTOPE_NAME})", False),
        # "Activation of beta-adrenergic receptor by isoproterenol at 0.5 uM": an agent, not a method.
        ("activation of X by Y",
         r"\b(?:[Aa]ctivation|[Ss]timulation) of [^;]+? by (?P<names>[^\s;,]+(?: [^\s;,]+)?)"
         r" (?=at \d)", False),
    )
]  # fmt: skip
_IN_PRESENCE_OF = re.compile(r"\b[Ii]n (?:the )?presence of\s+(?P<names>\S+(?: \S+){0,3})")
_ANTAGONIST_ASSAY = re.compile(r"(?i)antagonist|inverse agonist")


def _substrate_names(raw: str, generic_ok: bool) -> list[str]:
    names = []
    for part in _NAME_LIST.split(raw):
        name = _NAME_PREFIX.sub("", part.strip(" ,;:"))
        name = _SEQUENCE_PEPTIDE.sub(r"\g<sequence>", _NAME_SUFFIX.sub("", name))
        if not name or not _balanced(name) or len(name.split()) > 6 or _NUMBER.match(name):
            continue
        if generic_ok or not GENERIC_PROBES.match(name):
            names.append(name)
    return names


def substrate_votes(text: str) -> list[Vote]:
    votes = [
        Vote(SUBSTRATE, name, rule)
        for rule, pattern, generic_ok in _SUBSTRATE_PHRASES
        for match in pattern.finditer(text)
        for name in _substrate_names(match.group("names"), generic_ok)
    ]
    named_target = bool(target_votes(text))
    for match in _GLUED.finditer(text):
        # "inhibition of UDP-induced calcium mobilization": the agonist, where a target is named
        # and the stimulus is not one that acts on the cells.
        name = match.group("name")
        if match.group("how") in _CAUSED_BY and named_target and not CELL_STIMULI.match(name.split("/")[0]):
            votes += [Vote(SUBSTRATE, n, "Y-induced") for n in _substrate_names(name, False)]
    if votes:
        return votes
    for match in _IN_PRESENCE_OF.finditer(text):
        names = _head(match.group("names") + " ", 0)
        if LABELLED.search(names) and not re.search(r"ATP|GTP", names):
            rule = "in presence of labelled Y"
        elif named_target and _ANTAGONIST_ASSAY.match(text):
            rule = "antagonist in presence of Y"  # "Antagonist activity at MR in presence of aldosterone"
        else:
            continue
        votes += [Vote(SUBSTRATE, n, rule) for n in _substrate_names(names, False)]
    return votes


# The description as a whole -----------------------------------------------------------------

# Phenotypic, ADME and in vivo assays name no target: "Antibacterial activity against ...",
# "Cytotoxicity against ...", "Growth inhibition of ...".
_PHENOTYPE = re.compile(
    r"^(?:In vivo |In vitro |Ex vivo )?(?:[A-Za-z][a-z]*(?:bacterial|microbial|fungal|viral|malarial"
    r"|proliferative|tumou?r|cancer|parasitic|plasmodial|leishmanial|trypanosomal|mycobacterial"
    r"|tubercular|inflammatory|oxidant|nociceptive|convulsant|diabetic|hyperlipidemic|lipidemic"
    r"|allodynic|depressant|psychotic|hypertensive|emetic|feedant|osteoporotic|migraine|angiogenic"
    r"|biofilm|helminthic|filarial|coagulant|thrombotic|obesity|ulcer|hyperglycemic|schistosomal"
    r"|amoebic|trichomonal|insecticidal|larvicidal|herbicidal|fungicidal|bactericidal|trypanocidal"
    r"|cidal|toxic)\w*|Cytotoxicity|Cytotoxic|Phytotoxicity|Toxicity|Growth inhibition|Antifeedant"
    r"|Hypolipidemic|Hemolytic|Haemolytic|Curative|Induction of apoptosis|Cell cycle arrest"
    r"|Induction of cell cycle arrest|Minimum inhibitory concentration|Plasma protein binding"
    r"|Half life|Oral bioavailability|Solubility|Permeability|Metabolic stability|Selectivity index"
    r"|Therapeutic index)\b"
)
# What a macromolecule's name looks like: a protein or nucleic-acid word, or a gene-like symbol.
_MOLECULE = re.compile(
    r"(?i:receptor|ase\b|ases\b|channel|transporter|\bDNA\b|\bRNA\b|protein|factor|enzyme|tubulin"
    r"|globulin|albumin|kinase|quadruplex)|^(?=.*[A-Z])(?=.*\d)[A-Za-z0-9-]{2,12}$|^[A-Z][A-Z0-9]{1,5}$"
)


def phrase_votes(text: str) -> list[Vote]:
    """Every vote the phrasings give, TARGET first, each (label, name) once, in rule order."""
    seen: set[tuple[str, str]] = set()
    votes = []
    for vote in target_votes(text) + substrate_votes(text):
        if (vote.label, vote.text) not in seen and vote.text in text:
            seen.add((vote.label, vote.text))
            votes.append(vote)
    return votes


def phenotypic(text: str) -> bool:
    """A description of a phenotypic, ADME or in vivo assay, which names no target."""
    return bool(_PHENOTYPE.match(text))


def plausible_target(name: str) -> str | None:
    """`name` trimmed as the guidelines mark names, if it looks like a macromolecule's; else None."""
    cleaned = clean_name(name)
    if cleaned is None or _ORGANISM.match(name + " ") or LABELLED.search(cleaned):
        return None
    return cleaned if _MOLECULE.search(cleaned) else None
