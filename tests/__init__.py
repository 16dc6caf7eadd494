"""The test suite; its helpers (`tests.tiny`, `tests.stages`, `tests.upstream_files`) import as `tests.<name>`."""
