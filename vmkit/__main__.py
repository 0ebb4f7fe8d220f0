"""``python -m vmkit``: the same as the ``vmkit`` command."""

from .cli import main

raise SystemExit(main())
