"""`python -m tinygrad_bp` runs the `tinygrad-bp` command line."""

import sys

from .cli import main

sys.exit(main())
