"""Print the complaint workflow's Mermaid state diagram, or write it into the README.

The diagram is the `transitions` library's own Mermaid export of the compiled workflow
(``WorkflowDefinition.mermaid``); ``--write README.md`` replaces the block between the
``state-diagram`` markers, which tests/workflows/test_readme_diagram.py checks.
"""

import sys
from pathlib import Path

from workflows.complaint import COMPLAINT_WORKFLOW

START, END = "<!-- state-diagram:start -->", "<!-- state-diagram:end -->"


def write_into(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    block = f"{START}\n```mermaid\n{COMPLAINT_WORKFLOW.mermaid()}\n```\n{END}"
    path.write_text(head + block + tail, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_into(Path(sys.argv[2]))
    else:
        print(COMPLAINT_WORKFLOW.mermaid())
