"""``python -m pixelwise`` is the same as the ``pixelwise`` command."""

from pixelwise.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
