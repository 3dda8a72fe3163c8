"""Start coach on its embedded defaults: `python app.py` (see README.md).

Takes the options of `python -m coach serve` (`--host`, `--port`, `--data-dir`; `--help`)."""

import sys

from coach.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
