import sys

from xobito.cli import main

sys.exit(main())
