"""The README's state diagram is the one generated from the workflow definition."""

from pathlib import Path

from workflows.complaint import COMPLAINT_WORKFLOW

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_state_diagram_matches_the_definition() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- state-diagram:start -->")
    end = text.index("<!-- state-diagram:end -->")
    block = text[start:end]
    assert f"```mermaid\n{COMPLAINT_WORKFLOW.mermaid()}\n```" in block
