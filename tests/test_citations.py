"""Every Markdown file a docstring, comment or message names must be a file of this repository."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MD_NAME = re.compile(r"[A-Za-z0-9_./-]*\.md\b")
WRITTEN = {"index.md"}  # file names luckbench writes (the report), not citations


def _tracked(pattern: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", pattern],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [p for p in out.splitlines() if (ROOT / p).exists()]


def citation_problems(text: str, tracked: set[str]) -> list[str]:
    """Problems with the ``*.md`` names in ``text``: a path outside the repository, a bare
    ``math.md`` / ``reference.md`` (the shared spec, not ours), or a file that is not tracked."""
    problems = []
    if "../shared" in text or "shared/spec" in text:
        problems.append("cites ../shared (outside the repository)")
    for match in MD_NAME.finditer(text):
        name = match.group(0).rstrip(".")
        if Path(name).name in WRITTEN or Path(name).name == ".md":
            continue
        if name in ("math.md", "reference.md"):
            problems.append(f"bare {name!r}: cite docs/math.md or docs/experiments.md")
        elif name not in tracked:
            problems.append(f"{name!r} is not a file of the repository")
    return problems


def test_checker_catches_bad_citations():
    tracked = {"docs/math.md", "README.md"}
    assert citation_problems("see docs/math.md sec. 1 and README.md", tracked) == []
    assert citation_problems("writes ``DIR/index.md``", tracked) == []
    assert len(citation_problems("(math.md sec. 1)", tracked)) == 1
    assert len(citation_problems("see ../shared/spec/design.md", tracked)) == 2
    assert len(citation_problems("see docs/nothing.md", tracked)) == 1
    assert len(citation_problems("reference.md, 'Published'", tracked)) == 1


def test_every_cited_markdown_file_is_tracked():
    tracked = set(_tracked("*.md"))
    assert "docs/math.md" in tracked and "docs/references.md" in tracked
    bad = []
    for path in _tracked("*.py"):
        if Path(path).name == Path(__file__).name:  # its own examples of bad citations
            continue
        for lineno, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), 1):
            bad += [f"{path}:{lineno}: {p}" for p in citation_problems(line, tracked)]
    assert not bad, "\n".join(bad)
