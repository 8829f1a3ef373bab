"""A run's description in named blocks (jedi_repro/tracking/notes.py): each writer replaces its own."""
from jedi_repro.tracking.notes import blocks, compose


def test_blocks_keep_their_order_and_a_typed_note_stays_first():
    note = compose('typed in the UI', 'report:b', 'report b')
    note = compose(note, 'headline', 'chosen: epoch 7')
    note = compose(note, 'report:a', 'report a')
    note = compose(note, 'reuse', 'reuses run x')
    lead, parts = blocks(note)
    assert lead == 'typed in the UI'
    assert list(parts) == ['headline', 'reuse', 'report:a', 'report:b']
    assert note.index('chosen: epoch 7') < note.index('reuses run x') < note.index('report a')


def test_a_block_is_replaced_or_removed_not_repeated():
    note = compose(None, 'headline', 'first')
    note = compose(note, 'headline', 'second\n\nwith a paragraph')
    assert blocks(note) == ('', {'headline': 'second\n\nwith a paragraph'})
    assert blocks(compose(note, 'headline', '')) == ('', {})
