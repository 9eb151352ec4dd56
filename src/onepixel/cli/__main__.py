"""``python -m onepixel.cli``."""

import sys

from . import main

sys.exit(main())
