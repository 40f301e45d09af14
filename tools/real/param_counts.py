#!/usr/bin/env python3
"""Parameter counts of every network and size, built on the meta device (nothing allocated),
beside the published counts. Exits non-zero when a count is further off than the release's
rounding allows (configs.PUBLISHED).

Run: /usr/bin/python3 tools/real/param_counts.py [--json]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cascade_arch as arch  # noqa: E402
import configs  # noqa: E402
from build import BUILDERS, build, count_params  # noqa: E402


def main():
    rows = []
    bad = 0
    for model in BUILDERS:
        for size in ("big", "lite", "small"):
            if size == "lite" and model not in ("stage_c", "stage_b"):
                continue
            n = count_params(build(model, size, meta=True))
            total = n + (arch.stage_a_encoder_params(**{k: v for k, v in configs.STAGE_A[size].items() if k == "c_hidden"}) if model == "stage_a" else 0)
            published, tolerance = configs.PUBLISHED.get((model, size), (None, None))
            off = None if not published else total / published - 1
            ok = off is None or abs(off) <= tolerance
            bad += not ok
            rows.append(dict(model=model, size=size, exported=n, total=total, published=published, off=off, ok=ok))
    if "--json" in sys.argv:
        print(json.dumps(rows, indent=1))
    else:
        print(f"{'model':<10} {'size':<6} {'exported':>15} {'with unexported':>16} {'published':>12} {'off':>7}")
        for r in rows:
            pub = f"{r['published']:.3g}" if r["published"] else "-"
            off = f"{r['off'] * 100:+.1f}%" if r["off"] is not None else "-"
            print(f"{r['model']:<10} {r['size']:<6} {r['exported']:>15,} {r['total']:>16,} {pub:>12} {off:>7}{'' if r['ok'] else '  OFF'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
