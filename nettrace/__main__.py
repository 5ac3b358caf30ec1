import sys

from nettrace.cli import main

sys.exit(main())
