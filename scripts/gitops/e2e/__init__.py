"""e2e: the server stage of `gitops e2e` (apply.py), its control planes, its rules, its network namespace."""
