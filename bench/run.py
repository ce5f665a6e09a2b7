"""Run the §19 benchmarks: ``python -m bench [--scale S] [--only NAME] [--repeat R]
[--sizes 0.1,0.3,1.0] [--json FILE] [--keep]``.

Each benchmark generates its data in bulk into its own database (``jkfund_bench`` on the
server of DATABASE_URL, created from a migrated template and dropped at the end), runs the
project path and its baseline side by side, and prints one Markdown row: the medians, the
ratio (project ÷ baseline time, or baseline ÷ project rate) and the project path's SQL
query count. With ``--sizes`` every benchmark runs at each size and a growth table follows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback


def _setup_django() -> None:
    # Always the bench settings: fundapp.testenv exports fundapp.settings, whose database
    # is the development one, which the runner must never drop.
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()


NAMES = ("gates", "projects", "licence_batch", "licence_load", "tranches", "audit")


def _module(name: str):
    import importlib

    return importlib.import_module(f"bench.b_{name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = §19's sizes")
    parser.add_argument("--sizes", help="several scales, e.g. 0.1,0.3,1.0: adds a growth table")
    parser.add_argument("--only", action="append", choices=NAMES, help="run only these")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (median)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    _setup_django()
    from bench import db
    from bench.core import HEADER

    scales = [float(s) for s in args.sizes.split(",")] if args.sizes else [args.scale]
    names = args.only or list(NAMES)
    rows = []
    failed = 0
    db.prepare_empty()
    try:
        for scale in scales:
            print(f"\n## scale {scale}\n\n{HEADER}", flush=True)
            for name in names:
                started = time.perf_counter()
                try:
                    result = _module(name).run(scale, args.repeat)
                except Exception:
                    failed += 1
                    traceback.print_exc()
                    print(f"| {name} | failed | | | | |", flush=True)
                    continue
                wall = time.perf_counter() - started
                for row in result if isinstance(result, list) else [result]:
                    row.notes.append(f"wall {wall:.0f} s with data generation")
                    rows.append(row)
                    print(row.markdown(), flush=True)
                    for note in row.notes:
                        print(f"<!-- {name}: {note} -->", flush=True)
                    if not row.ok:
                        failed += 1
    finally:
        if not args.keep:
            db.drop_all()
    if len(scales) > 1:
        print("\n## growth (project path; ×: cost relative to the smallest size)\n")
        print("| benchmark | " + " | ".join(f"scale {s}" for s in scales) + " |")
        print("|---|" + "---|" * len(scales))
        by_name: dict[str, list] = {}
        for row in rows:
            by_name.setdefault(row.name, []).append(row)
        for name, series in by_name.items():
            first = series[0].project_median
            cells = []
            for row in series:
                growth = (
                    row.project_median / first if row.unit == "s" else first / row.project_median
                )
                cells.append(
                    f"{row.fmt(row.project_median)} (×{growth:.1f}, ratio {row.ratio:.2f})"
                )
            print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump([r.as_json() for r in rows], fh, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
