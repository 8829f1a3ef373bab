"""What the JEDI paper reports, as data. Shown in every report, marked "reported in the paper, not
reproduced here".

Only statements that could be checked against the paper's abstract are given as such. The paper's
per-dataset accuracies (its results tables) could not be checked against the full text while this
harness was written, so no number from them is included: the table says so instead of inventing any.
Add a row here only with its exact source (table/section) and after reading it in the paper.
"""

SOURCE = {
    'title': 'JEDI: Joint Expert Distillation in a Semi-Supervised Multi-Dataset Student-Teacher Scenario '
    'for Video Action Recognition',
    'arxiv': '2308.04934',
    'url': 'https://arxiv.org/abs/2308.04934',
}

#: (quantity, what the paper says, where it comes from / how sure we are)
ENTRIES = [
    ('datasets evaluated', 'four video action recognition datasets', 'abstract (checked)'),
    ('teacher input', "concatenation of the students' penultimate-layer features", 'abstract (checked)'),
    ('training', 'students and teachers jointly, end to end, semi-supervised', 'abstract (checked)'),
    (
        'headline result',
        'significant improvements over the initial experts on all four datasets',
        'abstract (checked; the size of the gains is not given there)',
    ),
    (
        'loss weights alpha, beta, gamma',
        '1, 1, 0.4',
        "this project's default configuration (mm_configs/jedi/jedi_default.py; README.md, \"Pipeline\"); "
        'NOT verified against the paper text',
    ),
    (
        'per-dataset top-1 / mAP of experts, students and teachers',
        'not included',
        'the results tables could not be verified from the paper text available here; see arXiv:2308.04934',
    ),
]
