"""``python -m genstudio`` (also what ``torchrun -m genstudio`` runs)."""

import sys

from genstudio.cli import main

sys.exit(main())
