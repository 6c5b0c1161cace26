"""``python -m laporflow``: the same as the ``laporflow`` command."""

from laporflow.cli import main

# Guarded: the relay's spawned child process re-imports the main module.
if __name__ == "__main__":
    main()
