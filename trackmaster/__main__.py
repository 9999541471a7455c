import sys

from trackmaster.cli import main

sys.exit(main())
