"""``python -m clinrag``: the same as the ``clinrag`` command."""

from clinrag.cli import main

main()
