"""``python -m devservices``: the local services' command line."""

import sys

from devservices.cli import main

sys.exit(main())
