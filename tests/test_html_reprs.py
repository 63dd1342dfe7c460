"""Results show themselves in notebooks: HTML that is the text table, escaped, under a verdict."""

from __future__ import annotations

from html import unescape

import numpy as np

from tinygrad_bp import Value, gradcheck
from tinygrad_bp.slides.compare import compare
from tinygrad_bp.slides.twolayer import TwoLayerNet


def _pre(html: str) -> str:
    return unescape(html.split("<pre>", 1)[1].rsplit("</pre>", 1)[0])


def test_gradcheck_report_html_is_its_table_and_verdict():
    report = gradcheck(lambda a: a * a + a, Value(2.0, "<a&b>"))
    html = report._repr_html_()
    assert "all agree" in html and "<a&b>" not in html  # the name is escaped
    assert _pre(html) == str(report)


def test_failing_gradcheck_says_so():
    # a * a computed off the graph: autodiff sees 0 where finite differences see 2a = 4
    report = gradcheck(lambda a: a * 0.0 + Value(a.data * a.data), Value(2.0, "a"))
    assert not report.ok
    assert "DISAGREEMENT" in report._repr_html_() and "all agree" not in report._repr_html_()


def test_comparison_html_is_its_table():
    net = TwoLayerNet.random(2, 3, 1, "sigmoid", "linear", seed=0)
    result = compare(net, np.array([1.0, 0.5]), np.array([0.5]), 0.5)
    html = result._repr_html_()
    assert ("all agree" in html) == bool(result.agree)
    assert _pre(html) == result.table()
