"""Join the JSON lines of benches/ops_torch.py and examples/bench_ops.rs by
operation name into a markdown table with burn/PyTorch time ratios.

    python benches/ops_table.py torch_ops.jsonl burn_ops.jsonl [more.jsonl ...]"""
import json
import sys
from collections import OrderedDict

rows = OrderedDict()
impls = []
for path in sys.argv[1:]:
    for line in open(path):
        if not line.strip().startswith("{"):
            continue
        r = json.loads(line)
        key = (r["name"], r["threads"])
        rows.setdefault(key, {})[r["impl"]] = r
        if r["impl"] not in impls:
            impls.append(r["impl"])
base = "pytorch"
others = [i for i in impls if i != base]
fmt = lambda x: "" if x is None else f"{x:.2f}"
ratio = lambda a, b: "" if a is None or b in (None, 0) else f"{a / b:.1f}x"
head = ["operation", "threads", f"{base} fwd ms", f"{base} fwd+bwd ms"]
for o in others:
    head += [f"{o} fwd ms", f"{o} fwd+bwd ms", "fwd ratio", "fwd+bwd ratio"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for (name, threads), by in rows.items():
    t = by.get(base, {})
    cells = [name, str(threads), fmt(t.get("fwd_ms")), fmt(t.get("fwd_bwd_ms"))]
    for o in others:
        r = by.get(o, {})
        cells += [fmt(r.get("fwd_ms")), fmt(r.get("fwd_bwd_ms")),
                  ratio(r.get("fwd_ms"), t.get("fwd_ms")),
                  ratio(r.get("fwd_bwd_ms"), t.get("fwd_bwd_ms"))]
    print("| " + " | ".join(cells) + " |")
