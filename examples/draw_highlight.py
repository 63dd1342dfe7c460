"""Draw the slides' network as a computation graph with every path from E to w11 highlighted,
and write the chain rule out the way the slides do.

Run: python examples/draw_highlight.py [OUTPUT.svg]   (default out/slides_graph_w11.svg;
an OUTPUT.html gives the page that steps through the backward pass)
"""

import sys

from tinygrad_bp.slides.twolayer import TwoLayerNet
from tinygrad_bp.views.draw import draw
from tinygrad_bp.views.explain import explain

net = TwoLayerNet.random(2, 3, 1, hidden="sigmoid", output="linear", seed=0)
graph = net.value_graph(x=[0.5, -0.3], d=[0.8])  # every node named: x1, w11, v1, y_h1, ..., E
graph.E.backward()

out = sys.argv[1] if len(sys.argv) > 1 else "out/slides_graph_w11.svg"
# the named quantities, each edge carrying its derivative; the caption is the chain rule
drawing = draw(graph.E, highlight="w11", collapse=True)
drawing.save(out)  # prints the path it wrote

explanation = explain(graph.E, "w11", fold=True)  # every path, through its named nodes
print(explanation)
assert abs(explanation.total - graph.params["w11"].grad) < 1e-15
