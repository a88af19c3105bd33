"""Infrastructure: files, processes, git, the pinned tools, YAML sources, CRDs, the cache folder, settings."""
