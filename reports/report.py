"""The comparison report: stored results in, ``DIR/index.md`` and ``DIR/index.html`` out.

:func:`write_report` collects netCDF results (files, or folders searched recursively for
``*.nc``), skips and names the corrupt or foreign ones, draws each result's figures through the
figure module registered for its ``result_kind`` (every ``luckbench.reports.*_figures`` module
with a ``KINDS`` tuple and ``plot(ds, out_dir) -> list[Path]``), fills the claims ledger
(:mod:`luckbench.reports.ledger`) and writes the same document twice: Markdown, and a
self-contained HTML page (inline CSS, no scripts; the PNG figures lie beside it in ``figures/``).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import importlib
import os
import pkgutil
import re
import shutil
import sys
import traceback
from pathlib import Path
from typing import Iterable

from luckbench.errors import InputError
from luckbench.reports import ledger
from luckbench.reports.ledger import Result
from luckbench.store import read_dataset, write_text


MARKER = ".luckbench-report"


# --- a tiny document model, rendered to Markdown and HTML ---------------------------------------

@dataclasses.dataclass
class Link:
    text: str
    href: str


@dataclasses.dataclass
class Heading:
    level: int
    text: str


@dataclasses.dataclass
class Para:
    parts: list  # str | Link


@dataclasses.dataclass
class Table:
    header: list[str]
    rows: list[list]  # cells: str | Link | list[Link]
    verdict_col: int | None = None


@dataclasses.dataclass
class Figure:
    src: str
    caption: str


Block = Heading | Para | Table | Figure


def _cell_md(cell) -> str:
    if isinstance(cell, Link):
        return f"[{cell.text}]({cell.href})"
    if isinstance(cell, list):
        return ", ".join(_cell_md(c) for c in cell)
    return str(cell).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            out.append("".join(_cell_md(p) for p in b.parts))
        elif isinstance(b, Table):
            out.append("| " + " | ".join(b.header) + " |")
            out.append("|" + "---|" * len(b.header))
            out.extend("| " + " | ".join(_cell_md(c) for c in row) + " |" for row in b.rows)
        elif isinstance(b, Figure):
            out.append(f"![{b.caption}]({b.src})")
        out.append("")
    return "\n".join(out)


def _cell_html(cell) -> str:
    if isinstance(cell, Link):
        return f'<a href="{html.escape(cell.href)}">{html.escape(cell.text)}</a>'
    if isinstance(cell, list):
        return ", ".join(_cell_html(c) for c in cell)
    return html.escape(str(cell))


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:1em 0;font-size:0.88em;width:100%}
th,td{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f0f0f0} tr:nth-child(even){background:#fafafa}
.v-holds{background:#d8f0dc;font-weight:600} .v-fails{background:#f8d4d2;font-weight:600}
.v-preconditions-unmet{background:#eee;color:#555} .v-not-run{color:#888}
figure{display:inline-block;margin:0.5em;max-width:48%} figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:0.8em;color:#555} code{background:#f4f4f4;padding:0 3px}
"""


def to_html(blocks: list[Block], title: str) -> str:
    out = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
           f"<style>{_CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            anchor = re.sub(r"[^a-z0-9]+", "-", b.text.lower()).strip("-")
            out.append(f'<h{b.level} id="{anchor}">{html.escape(b.text)}</h{b.level}>')
        elif isinstance(b, Para):
            out.append("<p>" + "".join(_cell_html(p) for p in b.parts) + "</p>")
        elif isinstance(b, Table):
            out.append("<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
                       + "</tr></thead><tbody>")
            for row in b.rows:
                cells = []
                for i, c in enumerate(row):
                    cls = (f' class="v-{str(c).replace(" ", "-")}"' if i == b.verdict_col else "")
                    cells.append(f"<td{cls}>{_cell_html(c)}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</tbody></table>")
        elif isinstance(b, Figure):
            out.append(f'<figure><img src="{html.escape(b.src)}" alt="{html.escape(b.caption)}">'
                       f"<figcaption>{html.escape(b.caption)}</figcaption></figure>")
    out.append("</body></html>\n")
    return "\n".join(out)


# --- collecting results and figures ------------------------------------------------------------

def collect(paths: Iterable[str | os.PathLike]) -> tuple[list[Result], list[tuple[Path, str]]]:
    """Read every result under ``paths`` (files, or folders searched recursively for ``*.nc``).

    Returns (results, skipped): unreadable or non-luckbench files are skipped with the reason.
    A path that does not exist at all is an InputError.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.rglob("*.nc") if q.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"no such result file or folder: {p}")
    results, skipped, seen = [], [], set()
    for f in files:
        key = f.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            results.append(Result(f, read_dataset(f)))
        except InputError as exc:
            skipped.append((f, str(exc)))
    return results, skipped


def figure_modules() -> tuple[dict[str, object], list[str]]:
    """result_kind -> figure module, from every ``luckbench.reports.*_figures`` with ``KINDS``."""
    import luckbench.reports as pkg

    modules, problems = {}, []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.endswith("_figures"):
            continue
        name = f"luckbench.reports.{info.name}"
        try:
            mod = importlib.import_module(name)
        except Exception as exc:  # a broken figure module must not take the report down
            problems.append(f"{name}: import failed ({type(exc).__name__}: {exc})")
            continue
        for kind in getattr(mod, "KINDS", ()):
            modules.setdefault(kind, mod)
    return modules, problems


def _slug(path: Path, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem) or "result"
    slug, i = base, 1
    while slug in used:
        i += 1
        slug = f"{base}_{i}"
    used.add(slug)
    return slug


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


# --- the report --------------------------------------------------------------------------------

def write_report(paths: Iterable[str | os.PathLike], out_dir: str | os.PathLike) -> Path:
    """Write ``out_dir/index.md`` and ``out_dir/index.html`` (figures in ``out_dir/figures``).

    Returns the path of ``index.html``. Skipped files are named in the report and on stderr.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out: {out_dir} exists and is not a folder")
    results, skipped = collect(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, why in skipped:
        sys.stderr.write(f"luckbench report: skipped {path}: {why}\n")
    modules, problems = figure_modules()
    for problem in problems:
        sys.stderr.write(f"luckbench report: figure module {problem}\n")

    fig_root = out_dir / "figures"
    if (fig_root / MARKER).is_file():  # figures of an earlier report here: replace them, not mix them
        shutil.rmtree(fig_root)
    fig_root.mkdir(parents=True, exist_ok=True)
    (fig_root / MARKER).write_text("written by luckbench report; this folder is replaced on every report\n")
    used: set[str] = set()
    figures: dict[Path, list[Path]] = {}
    notes: dict[Path, str] = {}
    for res in results:
        mod = modules.get(res.kind)
        if mod is None:
            notes[res.path] = f"no figure module for result_kind {res.kind!r}"
            continue
        fig_dir = fig_root / _slug(res.path, used)
        fig_dir.mkdir(parents=True, exist_ok=True)
        try:
            figures[res.path] = [Path(p) for p in mod.plot(res.ds, fig_dir)]
        except Exception as exc:  # one bad figure must not lose the report
            notes[res.path] = f"figure failed: {type(exc).__name__}: {exc}"
            sys.stderr.write(f"luckbench report: figures for {res.path} failed:\n{traceback.format_exc()}")

    rows = ledger.build(results)
    blocks = _document(results, skipped, problems, rows, figures, notes, out_dir)
    title = "luckbench report: Luck Matters (Tian et al., 2019), theory against measurement"
    write_text(out_dir / "index.md", to_markdown(blocks))
    return write_text(out_dir / "index.html", to_html(blocks, title))


def _document(results, skipped, problems, rows, figures, notes, out_dir: Path) -> list[Block]:
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    blocks: list[Block] = [
        Heading(1, "luckbench report: Luck Matters (Tian et al., 2019), theory against measurement"),
        Para([f"Generated {now} from {len(results)} stored results"
              + (f" ({len(skipped)} files skipped)" if skipped else "") + ". Ledger: "
              + ", ".join(f"{counts.get(v, 0)} {v}" for v in ledger.VERDICTS) + "."]),
        Heading(2, "Claims ledger"),
        Para(["Each claim of the paper; what the theory layer says (statement, preconditions, bounds); what "
              "was measured here; the paper's or the authors' published number where one exists; the verdict "
              "(holds / fails / preconditions unmet / not run) and the stored results behind it."]),
        Table(["id", "claim", "source", "theory", "measured (ours)", "published", "verdict", "results"],
              [[r.claim_id, r.claim, r.source, r.theory or "-", r.measured or "-", r.published or "-", r.verdict,
                [Link(p.name, _rel(p, out_dir)) for p in dict.fromkeys(r.evidence)]] for r in rows],
              verdict_col=6),
    ]
    if skipped or problems:
        blocks.append(Heading(2, "Skipped inputs"))
        blocks.append(Table(["file", "reason"], [[str(p), why] for p, why in skipped]
                            + [["figure module", pr] for pr in problems]))
    blocks.append(Heading(2, "Results"))
    for res in results:
        blocks.append(Heading(3, f"{res.path.name} ({res.kind})"))
        blocks.append(Para([Link(str(res.path), _rel(res.path, out_dir)),
                            f" - command: {res.ds.attrs.get('command', '?')}; seed {res.ds.attrs.get('seed', '?')}; "
                            f"created {res.ds.attrs.get('created', '?')}"]))
        line = ledger.summary(res)
        if line:
            blocks.append(Para([line]))
        if res.kind == "checks":
            blocks.append(_checks_table(res))
        if res.path in notes:
            blocks.append(Para([notes[res.path]]))
        for fig in figures.get(res.path, []):
            blocks.append(Figure(_rel(fig, out_dir), f"{res.path.name}: {fig.stem}"))
    return blocks


def _checks_table(res: Result) -> Table:
    rows = []
    for c in ledger.check_rows(res.ds):
        rows.append([c["name"], c["kind"], c["statement"], ledger.fmt(c["value"]), ledger.fmt(c["bound"]),
                     ledger.fmt(c["tolerance"]), c["verdict"], ledger.details_text(c["details"], limit=12)])
    return Table(["check", "kind", "statement", "value", "bound", "tolerance", "verdict", "details"], rows,
                 verdict_col=6)
