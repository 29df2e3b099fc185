"""`python -m pylibctrd`: the command line (pylibctrd.cli)."""

import sys

from pylibctrd.cli import main

sys.exit(main())
