"""The comparison report: stored results in, ``DIR/index.md``, ``DIR/index.html`` and ``DIR/ledger.json`` out.

:func:`write_report` collects netCDF results (files, or folders searched recursively for
``*.nc``), names and skips every unusable file (corrupt, foreign, a configuration that is not a
JSON object, missing or all-NaN variables its kind needs, a second copy of the same run), draws
each result's figures through the figure module registered for its ``result_kind`` (every
``luckbench.reports.*_figures`` module with a ``KINDS`` tuple and ``plot(ds, out_dir) ->
list[Path]``) except for the runs of a sweep folder, which get one figure per swept parameter
(:mod:`luckbench.reports.sweep_figures`), fills the claims ledger (:mod:`luckbench.reports.ledger`)
and writes the same document twice: Markdown, and a self-contained HTML page (inline CSS, no
scripts; the PNG figures lie beside it in ``figures/``, each a link to itself at full size). Every
file is written atomically (``luckbench.store.write_text``).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import importlib
import json
import os
import pkgutil
import re
import shutil
import sys
from pathlib import Path
from typing import Iterable

import numpy as np

from luckbench.errors import InputError
from luckbench.reports import ledger, sweep_figures
from luckbench.reports.judgement import VERDICTS, Result, fmt
from luckbench.reports.summaries_checks import check_rows, details_text
from luckbench.reports.summaries_train import protocol_key
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
    verdict_cols: tuple[int, ...] = ()


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
.v-preconditions-unmet{background:#eee;color:#555} .v-not-run{color:#888} .v-inconclusive{background:#fdf3cf}
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
                    cls = (f' class="v-{str(c).replace(" ", "-")}"' if i in b.verdict_cols else "")
                    cells.append(f"<td{cls}>{_cell_html(c)}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</tbody></table>")
        elif isinstance(b, Figure):
            src = html.escape(b.src)
            out.append(f'<figure><a href="{src}"><img src="{src}" alt="{html.escape(b.caption)}"></a>'
                       f"<figcaption>{html.escape(b.caption)} (click for full size)</figcaption></figure>")
    out.append("</body></html>\n")
    return "\n".join(out)


# --- collecting results and figures ------------------------------------------------------------

# What each result kind's ledger rows and figures read; a result lacking one (or with only NaN in it) is skipped.
REQUIRED = {"checks": ("holds",), "feasibility": ("feasible",), "thm4": ("theta",), "thm5": ("v_row_norm", "is_u"),
            "thm5_protocol": ("vu_norm", "vr_norm"), "overparam": ("rho_bar",), "train": ("rho_bar",),
            "bn_audit": ("n_channels",)}


def unusable(ds) -> str | None:
    """Why a stored result cannot be used (None when it can): a non-JSON configuration, or variables
    its kind needs that are missing or hold only NaN."""
    try:
        cfg = json.loads(ds.attrs.get("config", ""))
    except (TypeError, ValueError):
        return "its config attribute is not JSON"
    if not isinstance(cfg, dict):
        return "its config attribute is not a JSON object"
    kind = str(ds.attrs.get("result_kind", ""))
    need = REQUIRED.get(kind, ())
    missing = [v for v in need if v not in ds.variables]
    if missing:
        return f"result_kind {kind!r} without the variable(s) {', '.join(missing)}"
    for v in need:
        values = np.asarray(ds[v].values)
        if values.dtype.kind == "f" and not np.isfinite(values).any():
            return f"variable {v} holds only NaN / inf"
    return None


def _run_key(ds) -> tuple:
    """Two files with the same kind, configuration, seed and command are two copies of one run."""
    return (ds.attrs.get("result_kind"), ds.attrs.get("config"), ds.attrs.get("seed"), ds.attrs.get("command"))


def collect(paths: Iterable[str | os.PathLike]) -> tuple[list[Result], list[tuple[Path, str]]]:
    """Read every result under ``paths`` (files, or folders searched recursively for ``*.nc``).

    Returns (results, skipped): unusable files are skipped with the reason (:func:`unusable`; a
    second copy of a run names the first). A path that does not exist at all is an InputError.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.rglob("*.nc") if q.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"no such result file or folder: {p}")
    results, skipped, seen, runs = [], [], set(), {}
    for f in files:
        key = f.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            ds = read_dataset(f)
        except InputError as exc:
            skipped.append((f, str(exc)))
            continue
        why = unusable(ds)
        if why is None and _run_key(ds) in runs:
            why = f"a second copy of the run in {runs[_run_key(ds)]}"
        if why is not None:
            skipped.append((f, why))
            continue
        runs[_run_key(ds)] = f
        results.append(Result(f, ds))
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


def sweeps(results: list[Result]) -> dict[Path, list[Result]]:
    """Results that are runs of a sweep folder (listed in its ``sweep.json``): {folder: runs}."""
    out: dict[Path, list[Result]] = {}
    manifests: dict[Path, dict] = {}
    for res in results:
        folder = res.path.parent
        if folder not in manifests:
            manifests[folder] = sweep_figures.sweep_runs(folder)
        if res.path.stem in manifests[folder]:
            out.setdefault(folder, []).append(res)
    return out


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

def _draw(results, sweep_sets, fig_root: Path):
    """Figures per result (sweep runs: per sweep instead); failures become notes, never lost reports."""
    modules, problems = figure_modules()
    used: set[str] = set()
    figures: dict[Path, list[Path]] = {}
    notes: dict[Path, str] = {}
    in_sweep = {r.path for runs in sweep_sets.values() for r in runs}
    for folder, runs in sweep_sets.items():
        try:
            figures[folder] = sweep_figures.plot_sweep(folder, {r.path.stem: r.ds for r in runs},
                                                       fig_root / _slug(folder, used))
        except Exception as exc:
            notes[folder] = f"sweep figure failed: {type(exc).__name__}: {exc}"
    groups: dict[tuple, list[Result]] = {}
    for res in results:
        if res.path in in_sweep:
            continue
        mod = modules.get(res.kind)
        if mod is None:
            notes[res.path] = f"no figure module for result_kind {res.kind!r}"
            continue
        # modules with plot_group draw the seeds of one protocol together (mean and min-max over seeds)
        key = (res.kind, protocol_key(res.config)) if hasattr(mod, "plot_group") else (res.kind, str(res.path))
        groups.setdefault(key, []).append(res)
    for (kind, _), members in groups.items():
        mod, head = modules[kind], members[0]
        try:
            out = fig_root / _slug(head.path, used)
            drawn = mod.plot_group([r.ds for r in members], out) if hasattr(mod, "plot_group") else mod.plot(head.ds, out)
            figures[head.path] = [Path(p) for p in drawn]
            for other in members[1:]:
                notes[other.path] = f"figures drawn with the other seeds of this protocol, under {head.path.name}"
        except Exception as exc:  # one bad figure must not lose the report
            notes[head.path] = f"figure failed: {type(exc).__name__}: {exc}"
            sys.stderr.write(f"luckbench report: figures for {head.path} failed: {notes[head.path]}\n")
    return figures, notes, problems


def write_report(paths: Iterable[str | os.PathLike], out_dir: str | os.PathLike) -> Path:
    """Write ``out_dir/index.md``, ``out_dir/index.html`` and ``out_dir/ledger.json`` (figures in
    ``out_dir/figures``). Returns the path of ``index.html``. Skipped files are named in the report
    and on stderr."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out: {out_dir} exists and is not a folder")
    results, skipped = collect(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, why in skipped:
        sys.stderr.write(f"luckbench report: skipped {path}: {why}\n")

    fig_root = out_dir / "figures"
    if (fig_root / MARKER).is_file():  # figures of an earlier report here: replace them, not mix them
        shutil.rmtree(fig_root)
    fig_root.mkdir(parents=True, exist_ok=True)
    (fig_root / MARKER).write_text("written by luckbench report; this folder is replaced on every report\n")
    sweep_sets = sweeps(results)
    figures, notes, problems = _draw(results, sweep_sets, fig_root)
    for problem in problems:
        sys.stderr.write(f"luckbench report: figure module {problem}\n")

    rows = ledger.build(results)
    blocks = _document(results, skipped, problems, rows, figures, notes, sweep_sets, out_dir)
    title = "luckbench report: Luck Matters (Tian et al., 2019), theory against measurement"
    write_text(out_dir / "ledger.json", ledger.rows_json(rows, out_dir))
    write_text(out_dir / "index.md", to_markdown(blocks))
    return write_text(out_dir / "index.html", to_html(blocks, title))


def _ledger_blocks(rows, out_dir: Path) -> list[Block]:
    counts = {v: sum(r.verdict_corrected == v for r in rows) for v in VERDICTS}
    return [
        Heading(2, "Claims ledger"),
        Para(["One row per claim of the paper (v2 = arXiv:1905.13405v2, v4 = v4: their section and figure numbers "
              "differ). Two verdicts: as printed (the paper's formula) and as corrected (ours; the same where no "
              "correction exists). Verdict words: holds / fails / inconclusive (too few seeds, or an effect inside "
              "the seed noise) / preconditions unmet / not run. The rule says what decided each verdict; an "
              "empirical holds or fails needs >= 3 seeds. Corrected verdicts: "
              + ", ".join(f"{counts[v]} {v}" for v in VERDICTS) + ". The same rows, machine-readable: ",
              Link("ledger.json", "ledger.json"), "."]),
        Table(["id", "claim", "source", "as printed", "as corrected", "rule", "seeds", "measured (ours)", "published",
               "results"],
              [[r.id, r.claim, r.source, r.verdict_printed, r.verdict_corrected, r.rule,
                "-" if r.n_seeds is None else str(r.n_seeds), r.measured or "-", r.published or "-",
                [Link(p.name, _rel(p, out_dir)) for p in r.evidence]] for r in rows],
              verdict_cols=(3, 4)),
        Heading(3, "Formulas tested"),
        Table(["id", "as printed", "as corrected", "theory"],
              [[r.id, r.formula_printed or "-", r.formula_corrected or "-", r.theory or "-"] for r in rows
               if r.formula_corrected or r.theory]),
    ]


def _document(results, skipped, problems, rows, figures, notes, sweep_sets, out_dir: Path) -> list[Block]:
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    blocks: list[Block] = [
        Heading(1, "luckbench report: Luck Matters (Tian et al., 2019), theory against measurement"),
        Para([f"Generated {now} from {len(results)} stored results"
              + (f" ({len(skipped)} files skipped, named below)" if skipped else "") + "."]),
        *_ledger_blocks(rows, out_dir),
    ]
    if skipped or problems:
        blocks.append(Heading(2, "Skipped inputs"))
        blocks.append(Table(["file", "reason"], [[str(p), why] for p, why in skipped]
                            + [["figure module", pr] for pr in problems]))
    blocks.append(Heading(2, "Results"))
    in_sweep = set()
    for folder, runs in sweep_sets.items():
        in_sweep |= {r.path for r in runs}
        blocks.append(Heading(3, f"sweep {folder.name} ({len(runs)} runs)"))
        table = []
        for r in runs:
            h = sweep_figures.headline(r.ds)
            entry = sweep_figures.sweep_runs(folder).get(r.path.stem, {})
            table.append([Link(r.path.name, _rel(r.path, out_dir)), json.dumps(entry.get("params", {})),
                          str(entry.get("seed", "-")), "-" if h is None else f"{fmt(h[0])} ({h[1]})"])
        blocks.append(Table(["run", "parameters", "seed", "headline"], table))
        if folder in notes:
            blocks.append(Para([notes[folder]]))
        blocks += [Figure(_rel(f, out_dir), f"sweep {folder.name}: {f.stem}") for f in figures.get(folder, [])]
    for res in results:
        if res.path in in_sweep:
            continue
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
    for c in check_rows(res.ds):
        rows.append([c["name"], c["kind"], c["statement"], fmt(c["value"]), fmt(c["bound"]), fmt(c["tolerance"]),
                     c["verdict"], details_text(c["details"], limit=12)])
    return Table(["check", "kind", "statement", "value", "bound", "tolerance", "verdict", "details"], rows,
                 verdict_cols=(6,))
