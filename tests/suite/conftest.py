"""The sample project is a user's test project run by the plugin tests, never collected here."""

collect_ignore = ["sample_project"]
