"""The README stays short and its links resolve; details live in docs/."""
import re

from tests.conftest import ROOT


def test_readme_is_at_most_a_thousand_words():
    words = len((ROOT / "README.md").read_text().split())
    assert words <= 1000, f"README.md has {words} words; move detail into docs/"


def test_every_relative_link_of_the_readme_and_docs_resolves():
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
