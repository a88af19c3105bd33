"""`python -m gitops.fleetgen DEST --clusters N`: the documented entry point of the fleet generator
(scaffold/fleetgen.py), kept where the README and the bench name it."""
from gitops.scaffold.fleetgen import main

if __name__ == "__main__":
    main()
