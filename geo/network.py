"""Small graph helpers for the synthetic road network (networkx)."""

from __future__ import annotations

import networkx as nx
import numpy as np
from scipy.spatial import Delaunay


def mst_edges(xy: np.ndarray) -> list[tuple[int, int, float]]:
    """Edges (i, j, metres) of the Euclidean minimum spanning tree of metric points."""
    n = len(xy)
    if n < 2:
        return []
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    if n <= 3:
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    else:
        try:
            tri = Delaunay(xy)
            pairs = sorted(
                {
                    (min(int(a), int(b)), max(int(a), int(b)))
                    for s in tri.simplices
                    for a, b in ((s[0], s[1]), (s[1], s[2]), (s[0], s[2]))
                }
            )
        except Exception:  # collinear points: fall back to the complete graph
            pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    for i, j in pairs:
        graph.add_edge(i, j, weight=float(np.hypot(*(xy[i] - xy[j]))))
    tree = nx.minimum_spanning_tree(graph)
    return sorted((min(i, j), max(i, j), float(d["weight"])) for i, j, d in tree.edges(data=True))


def knn_edges(xy: np.ndarray, k: int) -> list[tuple[int, int, float]]:
    """Edges to each point's k nearest neighbours (undirected, without duplicates)."""
    n = len(xy)
    out: set[tuple[int, int]] = set()
    for i in range(n):
        d = np.hypot(*(xy - xy[i]).T)
        d[i] = np.inf
        for j in np.argsort(d, kind="stable")[: min(k, n - 1)]:
            out.add((min(i, int(j)), max(i, int(j))))
    return sorted((i, j, float(np.hypot(*(xy[i] - xy[j])))) for i, j in out)


def tree_parents(n: int, edges: list[tuple[int, int, float]], root: int) -> tuple[np.ndarray, np.ndarray]:
    """Parent of each node (-1 for the root) and distance to the root along a spanning tree."""
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_weighted_edges_from(edges)
    parent = np.full(n, -1)
    dist = np.zeros(n)
    for child, par in nx.bfs_predecessors(graph, root):
        parent[child] = par
    order = [root, *[c for _, c in nx.bfs_edges(graph, root)]]
    weight = {(min(i, j), max(i, j)): w for i, j, w in edges}
    for node in order[1:]:
        p = parent[node]
        dist[node] = dist[p] + weight[(min(node, p), max(node, p))]
    return parent, dist
