"""Every run a report covers carries the report's sections about it, so its MLflow page answers on its own.

After a report is built, each seed run gets the artifact ``report/<name>/report.md``: how this seed
compares with its configuration, then the report's own sections that concern that configuration (the
main results where it is the main configuration or a baseline, its study's ablation or search, the best
configurations, provenance), with the figures and tables they link to; and its description gains a line
that points there. A trial run gets its configuration's sections, a study's parent run those of every
configuration of the study. Rewriting a report of the same name replaces its artifacts and line.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from jedi_repro.reporting import stats, tables
from jedi_repro.reporting.runs import ROLES, Configuration, RunSet
from jedi_repro.reporting.writers import markdown_table

ARTIFACT_DIR = 'report'
# the report's own relative links (figures, tables) that an excerpt must carry to keep working
_LINK = re.compile(r'\]\(((?:figures|tables)/[^)\s]+)\)')


def artifact_path(name: str) -> str:
    return f'{ARTIFACT_DIR}/{name}'


def seed_table(frame, config: Configuration, run_id: str) -> str:
    """This seed beside its configuration: each role's mean of each dataset's primary metric."""
    rows = []
    for role in ROLES:
        cell = frame[(frame.config == config.key) & (frame.role == role) & (frame.column == tables.MEAN)]
        mine = cell[cell.run_id == run_id].value
        if cell.empty or mine.empty:  # a role the runs did not train
            continue
        values = cell.value.tolist()
        whole = (tables.expert_cell(values, digits=2) if role == 'expert'
                 else stats.format_cell(stats.summarize(values)))
        rows.append({'role': role, 'this seed': f'{mine.iloc[0] * 100:.2f}', 'configuration': whole})
    if not rows:
        return ''
    import pandas as pd
    return markdown_table(pd.DataFrame(rows))


def _excerpt_dir(tmp: Path, root: Path, text: str) -> Path:
    """A directory with ``report.md`` = ``text`` and the report files it links to."""
    out = Path(tempfile.mkdtemp(dir=tmp))
    (out / 'report.md').write_text(text, encoding='utf-8')
    for rel in sorted(set(_LINK.findall(text))):
        if (root / rel).is_file():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, out / rel)
    return out


def attach(client, run_set: RunSet, doc, frame, root: Path, name: str, where: str) -> int:
    """Log the report's sections about each run into it; return how many runs were given them.

    Args:
        client: an ``MlflowClient`` on the report's tracking store.
        run_set: the runs the report covers.
        doc: the report's :class:`~jedi_repro.reporting.report.Document`.
        frame: the report's test frame (:func:`tables.long_frame`).
        root: the built report directory (the files its links point to).
        name: the report's name (its directory's): the artifact folder ``report/<name>``.
        where: the report's path as shown to a reader.
    """
    from jedi_repro.tracking.notes import set_block

    block = f'report:{name}'
    head = f'From the report `{where}/report.md` ("{doc.title}", generated {doc.generated})'
    pointer = (f'**Report** "{doc.title}" (`{where}`, {doc.generated}): its sections about this run are in '
               f'the artifacts, `{artifact_path(name)}/report.md`.')
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        def log(run_id: str, intro: list[str], body: str) -> None:
            nonlocal count
            text = '\n'.join([f'# {doc.title}: what concerns this run', '', *intro, '', body])
            client.log_artifacts(run_id, str(_excerpt_dir(Path(tmp), root, text)), artifact_path(name))
            set_block(client, run_id, block, pointer)
            count += 1

        for c in run_set.configurations:
            body, seeds = doc.markdown(c.key), ', '.join(str(s.seed) for s in c.seeds)
            for s in c.seeds:
                log(s.run_id, [f'{head}. This run is seed {s.seed} of **{c.label}** (seeds {seeds}); the '
                               "sections below are the report's own, those that concern this "
                               'configuration.', '', "Test, mean of each dataset's primary metric (%):", '',
                               seed_table(frame, c, s.run_id)], body)
            if c.trial_run_id:
                log(c.trial_run_id, [f'{head}. This is the trial run of **{c.label}** (seeds {seeds}).'],
                    body)
        for study, parent in run_set.parents.items():
            keys = [c.key for c in run_set.configurations if c.study == study]
            if keys:
                log(parent.info.run_id, [f'{head}. This is the parent run of study **{study}**.'],
                    doc.markdown(keys))
    return count
