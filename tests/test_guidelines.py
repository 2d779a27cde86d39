"""Reading the guideline's table of examples, which tests and the evaluation report take as the answers."""

from pathlib import Path

import pytest

from components.data.records import InputError
from components.evaluation.guidelines import read_examples

ROOT = Path(__file__).resolve().parent.parent


def test_the_project_guidelines_give_six_examples_in_table_order():
    examples = read_examples(ROOT / "ANNOTATION_GUIDELINES.md")
    assert len(examples) == 6
    assert examples[0] == {
        "text": "Inhibition of human JNK2 at 1 uM using ATF2 as substrate",
        "targets": ["JNK2"],
        "substrates": ["ATF2"],
    }
    assert examples[4]["targets"] == ["NQO1"] and examples[4]["substrates"] == []
    assert examples[5]["targets"] == [] and examples[5]["substrates"] == []


def write(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "guide.md"
    path.write_text(
        "# Guide\n\n## Examples\n| description | TARGET | SUBSTRATE |\n| --- | --- | --- |\n"
        + table
        + "\n## Next section\n| not | an | example |\n",
        encoding="utf8",
    )
    return path


def test_several_names_and_the_table_end(tmp_path):
    path = write(
        tmp_path, "| Inhibition of PDE4B and PDE4D using cAMP as substrate | PDE4B; PDE4D | cAMP |\n"
    )
    assert read_examples(path) == [
        {
            "text": "Inhibition of PDE4B and PDE4D using cAMP as substrate",
            "targets": ["PDE4B", "PDE4D"],
            "substrates": ["cAMP"],
        }
    ]


@pytest.mark.parametrize(
    "table,message",
    [
        ("| Inhibition of JNK2 | JNK2 |\n", r"guide.md:6: expected 3 columns, found 2"),
        (
            "| Inhibition of JNK2 | JNK3 | (none) |\n",
            r"guide.md:6: \['JNK3'\] not written in the description",
        ),
        ("", r"has no rows"),
    ],
)
def test_bad_tables_name_file_and_line(tmp_path, table, message):
    with pytest.raises(InputError, match=message):
        read_examples(write(tmp_path, table))


def test_missing_section(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text("# Guide\n", encoding="utf8")
    with pytest.raises(InputError, match="no '## Examples' section"):
        read_examples(path)
