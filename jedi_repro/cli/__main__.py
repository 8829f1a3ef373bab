import sys

from jedi_repro.cli import main

sys.exit(main())
