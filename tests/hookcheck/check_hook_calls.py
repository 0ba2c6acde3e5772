#!/usr/bin/env python3
"""Checks that code reachable from liballocwatch.so's hooks calls only what the policy allows.

Reads the call graphs GCC writes with -fcallgraph-info (one .ci file per translation unit),
joins them into one graph, walks it from every root the policy names (the exported
interposers, the timer thread, the fork handlers, callbacks that libraries call back into) and
fails when a function outside the preload's own code is reachable but not allowed. Edges into
functions the policy marks `startup` are not followed (they run once, before the program can
hold a lock); `calls` lines add edges the graph cannot show (calls through function pointers).

Usage: check_hook_calls.py --policy FILE [--list] CI_FILE_OR_DIR...
Exit status: 0 when every reachable external call is allowed, 1 otherwise, 2 on bad input.
"""
import argparse
import os
import re
import subprocess
import sys
from collections import defaultdict, deque

NODE = re.compile(r'node: \{ title: "([^"]+)" label: "((?:[^"\\]|\\.)*)"( shape : ellipse)?')
EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"(?: label: "([^"]*)")?')


def ci_files(paths):
    for path in paths:
        if os.path.isdir(path):
            for top, _, names in os.walk(path):
                for name in sorted(names):
                    if name.endswith(".ci"):
                        yield os.path.join(top, name)
        elif os.path.isfile(path):
            yield path
        else:
            raise SystemExit(f"check_hook_calls: no such file or directory: {path}")


def read_graph(files):
    """Nodes are keyed by title: an assembler name, prefixed with its file for TU-local ones."""
    defined, seen, edges = set(), set(), defaultdict(set)
    count = 0
    for path in files:
        count += 1
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = NODE.match(line)
                if m:
                    title, _, ellipse = m.groups()
                    seen.add(title)
                    if not ellipse:
                        defined.add(title)
                    continue
                m = EDGE.match(line)
                if m:
                    src, dst, loc = m.groups()
                    edges[src].add((dst, loc or ""))
                    seen.update((src, dst))
    if count == 0:
        raise SystemExit("check_hook_calls: no .ci files given (build with -fcallgraph-info)")
    # A TU-local function (file-prefixed title) is allocwatch's own even without a node line.
    defined |= {t for t in seen if ":" in t and t.split(":", 1)[0].startswith("/")}
    return defined, seen - defined, edges


def symbol(title):
    """The assembler name of a title, without its file prefix and GCC's clone suffixes."""
    if ":" in title and title.startswith("/"):
        title = title.split(":", 1)[1]
    return re.sub(r"\.(part|cold|constprop|isra|lto_priv)(\.\d+)?", "", title)


def demangle(titles):
    titles = sorted(titles)
    names = [symbol(t) for t in titles]
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True,
                             text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        out = names
    return {title: strip_params(pretty) for title, pretty in zip(titles, out)}


def strip_params(pretty):
    """`ns::f(int) [clone .cold]` -> `ns::f`; templates and operator() kept readable."""
    pretty = re.sub(r" \[clone [^\]]*\]", "", pretty)
    depth = 0
    for i, ch in enumerate(pretty):
        if ch in "<":
            depth += 1
        elif ch in ">":
            depth -= 1
        elif ch == "(" and depth == 0 and not pretty[:i].endswith("operator"):
            if pretty[i:].startswith("(anonymous namespace)"):
                continue
            return pretty[:i]
    return pretty


def key(name):
    """A name as the policy writes it: no template arguments, no return type."""
    out, depth = [], 0
    for ch in name:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    text = "".join(out).replace(ANON, ANON_TOKEN)
    return untoken(text.rsplit(" ", 1)[-1])


ANON = "(anonymous namespace)"
ANON_TOKEN = "(anonymous\x00namespace)"


def untoken(text):
    return text.replace(ANON_TOKEN, ANON)


def read_policy(path):
    policy = {"root": [], "startup": {}, "allow": {}, "only_from": {}, "calls": []}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip().replace(ANON, ANON_TOKEN)
            if not line:
                continue
            kind, _, rest = line.partition(" ")
            rest = rest.strip()
            if kind == "root":
                policy["root"].extend(untoken(n) for n in rest.split())
            elif kind in ("startup", "allow"):
                name, _, reason = rest.partition(" ")
                name, reason = untoken(name), reason.strip()
                if reason.startswith("from "):
                    callers, _, reason = reason[5:].partition(" ")
                    policy["only_from"][name] = {key(untoken(c)) for c in callers.split(",")}
                reason = untoken(reason.strip())
                if not reason.strip():
                    raise SystemExit(f"{path}:{number}: `{kind} {name}` needs a reason")
                policy[kind][name] = reason.strip()
            elif kind == "calls":
                src, arrow, dst = rest.partition(" -> ")
                if not arrow:
                    raise SystemExit(f"{path}:{number}: expected `calls A -> B`")
                policy["calls"].append((untoken(src.strip()), untoken(dst.strip())))
            else:
                raise SystemExit(f"{path}:{number}: unknown policy line `{kind}`")
    return policy


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", required=True)
    ap.add_argument("--list", action="store_true",
                    help="print every reachable external function and why it is allowed")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    policy = read_policy(args.policy)
    defined, external, edges = read_graph(ci_files(args.paths))
    names = demangle(defined | external)
    by_name = defaultdict(set)
    for raw, pretty in names.items():
        by_name[pretty].add(raw)
        by_name[raw].add(raw)

    def resolve(name):
        return by_name.get(name, set())

    for src, dst in policy["calls"]:
        srcs, dsts = resolve(src), resolve(dst) or {dst}
        if not srcs:
            raise SystemExit(f"check_hook_calls: `calls {src} -> ...`: no such function")
        for s in srcs:
            for d in dsts:
                edges[s].add((d, "policy: calls"))
                if d not in defined:
                    external.add(d)
    roots = set()
    for r in policy["root"]:
        found = resolve(r)
        if not found:
            raise SystemExit(f"check_hook_calls: root `{r}` is not a function in the call graph")
        roots |= found
    startup = set(policy["startup"])
    parent = {r: None for r in roots}
    queue = deque(sorted(roots))
    reached_external = {}
    while queue:
        f = queue.popleft()
        for dst, loc in sorted(edges.get(f, ())):
            if dst in parent or names.get(dst, dst) in startup or dst in startup:
                continue
            parent[dst] = (f, loc)
            if dst in defined:
                queue.append(dst)
            else:
                reached_external[dst] = (f, loc)

    def chain(f):
        out = []
        while f is not None:
            out.append(names.get(f, f))
            step = parent.get(f)
            f = step[0] if step else None
        return " <- ".join(out)

    bad = []
    # `allow NAME from A,B`: every reachable function that calls NAME must be A or B.
    for f in sorted(parent):
        for dst, loc in sorted(edges.get(f, ())):
            callers = policy["only_from"].get(names.get(dst, dst))
            if callers is not None and key(names.get(f, f)) not in callers:
                bad.append(f"  {names.get(dst, dst)}, called at {loc or '?'} from "
                           f"{names.get(f, f)}, which is not one of its allowed callers\n"
                           f"    reached: {chain(f)}")
    for raw in sorted(reached_external, key=lambda r: names.get(r, r)):
        pretty = names.get(raw, raw)
        reason = (policy["allow"].get(pretty) or policy["allow"].get(raw) or
                  policy["allow"].get(key(pretty)))
        if args.list:
            print(f"{pretty:40} {reason or 'NOT ALLOWED'}")
        if reason is None:
            src, loc = reached_external[raw]
            bad.append(f"  {pretty}, called at {loc or '?'}\n    reached: {chain(raw)}")
    unused = [n for n in policy["allow"]
              if not any(names.get(r, r) == n or r == n for r in reached_external)]
    if args.list and unused:
        print("allowed but not reached: " + ", ".join(sorted(unused)))
    if bad:
        print("check_hook_calls: functions called from inside allocwatch's hooks that the policy "
              f"({args.policy}) does not allow:\n" + "\n".join(bad), file=sys.stderr)
        print("Each can take a lock the interrupted program holds, allocate, or re-enter stdio. "
              "Move the call out of the hook path, or prove it safe from every caller and add "
              "an `allow` line with the reason.", file=sys.stderr)
        return 1
    print(f"check_hook_calls: {len(parent)} functions reachable from {len(roots)} roots; "
          f"{len(reached_external)} external functions called, all allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
