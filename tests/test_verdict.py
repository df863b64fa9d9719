"""Verdict in a notebook: short repr, HTML table, Dataset form; closed-form checks need no torch."""
import json
import math
import subprocess
import sys

import numpy as np

from luckbench import jsonsafe
from luckbench.theory.verdict import Verdict, verdicts_dataset

V = [Verdict("theorem1", "g = f'(B* f* - B f)", "exact", True, value=1e-15, bound=0.0, tolerance=1e-10,
             details={"n": 3}),
     Verdict("theorem4", "sin theta <= envelope", "bound", None, value=-math.inf, details={"gamma": -0.5}),
     Verdict("lemma4", "C0 finite <b>", "bound", False, value=np.float64(824.5), bound=math.inf)]


def test_repr_is_one_short_line_with_the_verdict_word():
    lines = [repr(v) for v in V]
    assert lines[0] == "Verdict(theorem1: holds, value=1e-15, bound=0, 1 details)"
    assert "preconditions unmet" in lines[1] and "fails" in lines[2]
    assert all("\n" not in s and len(s) < 100 for s in lines)


def test_html_is_an_escaped_table():
    page = V[2]._repr_html_()
    assert page.startswith("<table>") and page.endswith("</table>")
    assert "&lt;b&gt;" in page and "<b>" not in page and ">fails<" in page


def test_jsonsafe_one_rule_for_non_finite():
    obj = {"a": np.float32(np.inf), "b": [np.nan, -np.inf], "c": np.bool_(True), 1: np.arange(2)}
    assert json.loads(jsonsafe.dumps(obj)) == {"a": "inf", "b": ["nan", "-inf"], "c": True, "1": [0, 1]}
    assert float(jsonsafe.jsonable(math.inf)) == math.inf


def test_verdicts_dataset_variables_and_codes():
    ds = verdicts_dataset(V)
    assert list(ds["check"].values) == ["theorem1", "theorem4", "lemma4"]
    assert list(ds["holds"].values) == [1, -1, 0] and ds["holds"].dtype == np.int8
    assert list(ds["holds"].attrs["flag_values"]) == [1, 0, -1]
    assert ds["holds"].attrs["flag_meanings"].split() == ["holds", "fails", "preconditions_unmet"]
    assert ds["value"].values[1] == -math.inf and np.isnan(ds["bound"].values[1])
    assert json.loads(str(ds["details"].values[1])) == {"gamma": -0.5}
    assert all("long_name" in ds[k].attrs for k in list(ds.data_vars) + list(ds.coords))


def test_closed_form_checks_import_no_torch():
    code = ("import sys\n"
            "from luckbench.theory import checks\n"
            "names = ['assumption2', 'assumption3', 'lemma2', 'lemma3', 'lemma4', 'theorem4', 'theorem5']\n"
            "vs = checks.run_checks(names, checks.CheckSetup(teacher=(6, 3, 2)))\n"
            "assert [v.name for v in vs] == names\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
