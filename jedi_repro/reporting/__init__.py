"""jedi_repro.reporting: Markdown/CSV/LaTeX reports with statistics over seeds, from MLflow runs.

``write_report(out_dir, studies=[...] | experiment=... | run_ids=[...], title=...)`` is the entry point
(``jedi report`` and ``jedi demo`` call it); ``stats`` holds the pure statistics.
"""

from jedi_repro.reporting.report import write_report

__all__ = ['write_report']
