"""``python -m analyses`` runs the ``setback`` command line."""

import sys

from analyses.cli import main

sys.exit(main())
