"""Print the complaint workflow's Mermaid state diagram, generated from its definition."""

from workflows.complaint import COMPLAINT_WORKFLOW

if __name__ == "__main__":
    print(COMPLAINT_WORKFLOW.mermaid())
