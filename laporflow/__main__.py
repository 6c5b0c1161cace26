"""``python -m laporflow``: the same as the ``laporflow`` command."""

from laporflow.cli import main

main()
