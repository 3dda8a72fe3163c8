"""Start coach on its embedded defaults: `python app.py` (see README.md)."""

from coach.ui import main

if __name__ == "__main__":
    main()
