"""A run's description (``mlflow.note.content``: Markdown, the first thing its MLflow page shows) in blocks.

Several writers add to one description at different times: the run's own headline when it finishes, the
link to the run it reuses, each report that covers it. Each owns a named block, opened by an HTML comment
(invisible once rendered), and replaces only its own; text without a marker (a note typed in the UI) stays
first.
"""
from __future__ import annotations

import re

NOTE_TAG = 'mlflow.note.content'
_MARK = re.compile(r'^<!-- jedi:(\S+) -->\n', re.M)
#: blocks in display order; ``report:<name>`` blocks follow, by name
ORDER = ('ranking', 'headline', 'reuse')


def blocks(note: str | None) -> tuple[str, dict[str, str]]:
    """Split a description into its unmarked lead and ``{block: text}``."""
    note = note or ''
    found = list(_MARK.finditer(note))
    lead = note[:found[0].start()] if found else note
    out = {}
    for m, nxt in zip(found, found[1:] + [None]):
        out[m.group(1)] = note[m.end():nxt.start() if nxt else len(note)].strip('\n')
    return lead.strip('\n'), out


def compose(note: str | None, block: str, text: str) -> str:
    """``note`` with ``block`` set to ``text`` (removed when ``text`` is empty), blocks in display order."""
    lead, parts = blocks(note)
    if text:
        parts[block] = text.strip('\n')
    else:
        parts.pop(block, None)
    order = sorted(parts, key=lambda b: (ORDER.index(b) if b in ORDER else len(ORDER), b))
    chunks = ([lead] if lead else []) + [f'<!-- jedi:{b} -->\n{parts[b]}' for b in order]
    return '\n\n'.join(chunks) + '\n' if chunks else ''


def set_block(client, run_id: str, block: str, text: str) -> None:
    """Set one block of a run's description, keeping the others."""
    from jedi_repro.tracking.runs import set_tags

    current = client.get_run(run_id).data.tags.get(NOTE_TAG)
    note = compose(current, block, text)
    if note != (current or ''):
        set_tags(client, run_id, {NOTE_TAG: note})
