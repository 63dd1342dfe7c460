"""Geometry of a Graphviz SVG: text boxes and edge paths, for tests that pictures are readable."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
CHAR_WIDTH = 0.55  # average Helvetica glyph width, in font sizes


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode("utf-8"))


def text_box(t: ET.Element) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a <text>, estimated from its anchor, font size and length."""
    x, y = float(t.get("x")), float(t.get("y"))
    size = float(t.get("font-size", "14"))
    width = CHAR_WIDTH * size * len(t.text or "")
    anchor = t.get("text-anchor", "start")
    x0 = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
    return x0, y - 0.75 * size, x0 + width, y + 0.2 * size


def texts(root: ET.Element) -> list[tuple[str, tuple[float, float, float, float]]]:
    return [(t.text or "", text_box(t)) for t in root.iter(NS + "text") if (t.text or "").strip()]


def overlapping_texts(root: ET.Element, slack: float = 0.5) -> list[tuple[str, str]]:
    boxes = texts(root)
    bad = []
    for i, (a, (ax0, ay0, ax1, ay1)) in enumerate(boxes):
        for b, (bx0, by0, bx1, by1) in boxes[i + 1 :]:
            if min(ax1, bx1) - max(ax0, bx0) > slack and min(ay1, by1) - max(ay0, by0) > slack:
                bad.append((a, b))
    return bad


def _points(d: str) -> list[tuple[float, float]]:
    """Points along a path made of M and C commands (cubic Béziers sampled)."""
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", d)]
    pts = list(zip(nums[::2], nums[1::2]))
    out = [pts[0]]
    for k in range(1, len(pts) - 2, 3):
        p0, p1, p2, p3 = pts[k - 1], pts[k], pts[k + 1], pts[k + 2]
        for s in range(1, 21):
            t = s / 20
            out.append(
                tuple(
                    (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t**2 * c + t**3 * e
                    for a, b, c, e in zip(p0, p1, p2, p3)
                )
            )
    return out


def edges(root: ET.Element) -> list[tuple[list[tuple[float, float]], list]]:
    """Per edge: its sampled path and its label texts (with boxes)."""
    out = []
    for g in root.iter(NS + "g"):
        if g.get("class") != "edge":
            continue
        path = [p for p in g.iter(NS + "path")]
        pts = [q for p in path for q in _points(p.get("d"))]
        labels = [(t.text, text_box(t)) for t in g.iter(NS + "text") if (t.text or "").strip()]
        out.append((pts, labels))
    return out


def _dist(box, pts) -> float:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return min(math.hypot(cx - x, cy - y) for x, y in pts)


def misplaced_labels(root: ET.Element, label_node: str = "l") -> list[str]:
    """Edge labels that lie nearer to some other edge than to their own.

    A label is the text of a Graphviz edge label, or a node whose id is
    `l<edge>` standing on the edge split in two, ids `e<edge>` and `e<edge>h`.
    """
    groups: dict[str, list] = {}
    labels: list[tuple[str, str, tuple]] = []
    for g in root.iter(NS + "g"):
        gid, kind = g.get("id", ""), g.get("class")
        if kind == "edge":
            key = gid.removesuffix("h") if gid.startswith("e") else gid
            pts = [q for p in g.iter(NS + "path") for q in _points(p.get("d"))]
            if gid.endswith("h") and groups.get(key):  # bridge the gap across the label node
                (x0, y0), (x1, y1) = groups[key][-1], pts[0]
                pts = [(x0 + t / 10 * (x1 - x0), y0 + t / 10 * (y1 - y0)) for t in range(11)] + pts
            groups.setdefault(key, []).extend(pts)
            labels += [(key, t.text, text_box(t)) for t in g.iter(NS + "text") if t.text]
        elif kind == "node" and re.fullmatch(label_node + r"\d+_\d+", gid):
            labels += [("e" + gid[1:], t.text, text_box(t)) for t in g.iter(NS + "text")]
    bad = []
    for key, text, box in labels:
        own = _dist(box, groups[key])
        others = [_dist(box, q) for k, q in groups.items() if k != key and q]
        if others and min(others) < own:
            bad.append(text)
    return bad


def size_px(svg: str) -> tuple[float, float]:
    """Width and height of the picture in CSS pixels (1 pt = 96/72 px)."""
    root = parse(svg)
    return tuple(float(root.get(k).removesuffix("pt")) * 96 / 72 for k in ("width", "height"))


def scale(svg: str) -> float:
    m = re.search(r"scale\(([\d.]+)", svg)
    return float(m.group(1)) if m else 1.0
