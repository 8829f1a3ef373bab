"""Writers for tables: GitHub Markdown, CSV (tidy numbers) and LaTeX (booktabs)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from jedi_repro.reporting.tables import Table


def md_escape(text) -> str:
    """A cell for a GitHub pipe table: pipes escaped, no line breaks."""
    return str(text).replace('|', '\\|').replace('\n', ' ')


def _numeric_like(values) -> bool:
    vals = [str(v) for v in values if str(v) not in ('', '-')]
    return bool(vals) and all(v[0] in '+-0123456789.' for v in vals)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured pipe table (no HTML); columns of numbers right-aligned, text left-aligned."""
    cols = [str(c) for c in df.columns]
    head = '| ' + ' | '.join(md_escape(c) for c in cols) + ' |'
    align = [':---' if i == 0 or not _numeric_like(df.iloc[:, i]) else '---:' for i in range(len(cols))]
    rule = '|' + '|'.join(align) + '|'
    body = ['| ' + ' | '.join(md_escape(v) for v in row) + ' |' for row in df.itertuples(index=False)]
    return '\n'.join([head, rule, *body])


_TEX = {
    '\\': r'\textbackslash{}',
    '&': r'\&',
    '%': r'\%',
    '$': r'\$',
    '#': r'\#',
    '_': r'\_',
    '{': r'\{',
    '}': r'\}',
    '~': r'\textasciitilde{}',
    '^': r'\textasciicircum{}',
}
_TEX_SYMBOLS = {'±': r'$\pm$', 'Δ': r'$\Delta$', '−': r'$-$', '*': r'$^{*}$', '≥': r'$\geq$'}


def tex_escape(text) -> str:
    out = ''.join(_TEX.get(ch, ch) for ch in str(text))
    for sym, tex in _TEX_SYMBOLS.items():
        out = out.replace(sym, tex)
    return out.replace('$^{*}$$^{*}$', '$^{**}$')


def latex_table(table: Table) -> str:
    """A ``table`` environment with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    df = table.display
    spec = 'l' + 'r' * (len(df.columns) - 1)
    lines = [
        r'\begin{table}[t]',
        r'\centering',
        rf'\caption{{{tex_escape(table.title)}}}',
        rf'\label{{tab:{table.name}}}',
        rf'\begin{{tabular}}{{{spec}}}',
        r'\toprule',
        ' & '.join(tex_escape(c) for c in df.columns) + r' \\',
        r'\midrule',
    ]
    lines += [' & '.join(tex_escape(v) for v in row) + r' \\' for row in df.itertuples(index=False)]
    lines += [r'\bottomrule', r'\end{tabular}']
    if table.notes:
        lines.append(rf'\par\footnotesize {tex_escape(" ".join(table.notes))}')
    lines.append(r'\end{table}')
    return '\n'.join(lines) + '\n'


def write_table(table: Table, tables_dir: Path) -> dict[str, Path]:
    """``tables/NAME.csv`` (tidy numbers) and ``tables/NAME.tex`` (the displayed cells)."""
    tables_dir.mkdir(parents=True, exist_ok=True)
    csv, tex = tables_dir / f'{table.name}.csv', tables_dir / f'{table.name}.tex'
    (table.numeric if len(table.numeric) else table.display).to_csv(csv, index=False, float_format='%.6g')
    tex.write_text(latex_table(table), encoding='utf-8')
    return {'csv': csv, 'tex': tex}
