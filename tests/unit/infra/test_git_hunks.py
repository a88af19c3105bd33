"""infra/git.py: the changed lines of `git diff -U0`, read apart from the headers."""
from __future__ import annotations

from gitops.infra.git import Hunk, _parsed

DIFF = """diff --git a/base/orders/service.yaml b/base/orders/service.yaml
index 1111111..2222222 100644
--- a/base/orders/service.yaml
+++ b/base/orders/service.yaml
@@ -13 +13 @@ spec:
-      port: 8080
+      port: 8081
@@ -20,0 +21,2 @@ spec:
+++ not a header: an added line that starts with "++ "
+--- nor this
diff --git a/gone.yaml b/gone.yaml
deleted file mode 100644
--- a/gone.yaml
+++ /dev/null
@@ -1 +0,0 @@
-kind: Namespace
"""


def test_hunks_and_headers() -> None:
    assert _parsed(iter(DIFF.splitlines(keepends=True))) == [
        Hunk("base/orders/service.yaml", 13, ("      port: 8081",), ("      port: 8080",)),
        Hunk("base/orders/service.yaml", 21, ('++ not a header: an added line that starts with "++ "', "--- nor this"), ()),
    ]
