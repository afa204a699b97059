import sys

from mcproute.cli import main

sys.exit(main())
