"""Entry script of the frozen application (PyInstaller runs this file; the installed package uses the console script)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # DataLoader workers and torch's helpers re-run the executable
    from genstudio.cli import main

    sys.exit(main())
