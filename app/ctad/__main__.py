import sys

from ctad.cli import main

sys.exit(main())
