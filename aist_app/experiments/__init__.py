"""The report's experiment: its config and stages, its report, its plan (--dry-run), and the
comparison of evaluated runs."""
