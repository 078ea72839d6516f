import sys

from skyviewer.cli import main

sys.exit(main())
