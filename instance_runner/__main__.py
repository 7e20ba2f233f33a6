import sys

from instance_runner.main import main

sys.exit(main())
