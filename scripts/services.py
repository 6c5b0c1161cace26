#!/usr/bin/env python3
"""``python scripts/services.py up|down|run|env``: the same as ``python -m devservices``.

Kept so the Makefile and the README's commands work from any folder; the code lives in
the importable package ``devservices/`` (standard library only).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devservices.cli import main

if __name__ == "__main__":
    sys.exit(main())
