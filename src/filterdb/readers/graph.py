"""Longest-path distances on a model graph, the depth measure of every graph reader."""

from __future__ import annotations


def longest_distances(parents: dict[str, list[str]], sources: set[str]) -> dict[str, int]:
    """Longest-path distance of each node from ``sources`` in a directed graph.

    parents: node → its input nodes. Cycles (TF while loops) are collapsed to one step
    each: a strongly connected component counts as one node, so a loop's output
    depends on its body the way data flows. Nodes that no source reaches get no distance.
    """
    names = list(parents)
    children: dict[str, list[str]] = {n: [] for n in names}
    for n, ps in parents.items():
        for p in ps:
            children[p].append(n)
    # Kosaraju, iteratively: finishing order on the graph, then components on the reverse
    order: list[str] = []
    seen: set[str] = set()
    for root in names:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(children[root]))]
        while stack:
            node, it = stack[-1]
            for c in it:
                if c not in seen:
                    seen.add(c)
                    stack.append((c, iter(children[c])))
                    break
            else:
                stack.pop()
                order.append(node)
    component: dict[str, int] = {}
    index = -1
    for root in reversed(order):
        if root in component:
            continue
        index += 1
        component[root] = index
        stack = [root]
        while stack:
            node = stack.pop()
            for p in parents[node]:
                if p not in component:
                    component[p] = index
                    stack.append(p)
    # components are numbered in topological order of the condensed graph
    comp_parents: dict[int, set[int]] = {}
    for n, ps in parents.items():
        comp_parents.setdefault(component[n], set()).update(component[p] for p in ps if component[p] != component[n])
    source_comps = {component[s] for s in sources if s in component}
    comp_distance: dict[int, int] = {}
    for c in range(len(comp_parents)):
        reached = [comp_distance[p] for p in comp_parents[c] if p in comp_distance]
        if c in source_comps:
            comp_distance[c] = max([0, *(r + 1 for r in reached)])
        elif reached:
            comp_distance[c] = 1 + max(reached)
    return {n: comp_distance[component[n]] for n in names if component[n] in comp_distance}
