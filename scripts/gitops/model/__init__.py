"""The model: plain data and pure views, the only part of gitops that policies/ and report/ import."""
