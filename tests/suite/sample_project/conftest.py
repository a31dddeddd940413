"""The sample project's own conftest: nothing provemu-specific is needed, the plugin brings the fixtures."""
