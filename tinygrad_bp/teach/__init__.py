"""The teacher's kit: worked solutions (`solve`), exercise sheets (`exercise`), grading (`grade`).

A `Problem` (layers, loss, eta, data, the author's notation) is derived line by
line into a `Solution`; every line is an expression that both computes its
number (activations and their derivatives from the op table, the loss's
derivative by the Value engine) and prints itself as LaTeX, Markdown or MathML.
"""
