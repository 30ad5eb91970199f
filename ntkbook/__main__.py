import sys

from ntkbook.pipeline.cli import main

sys.exit(main())
