"""Regenerate the catalog's layer tables (models/<name>.layers.json) from the torch sources.

    python tools/regen_layer_tables.py            # every model the models/*.py files define
    python tools/regen_layer_tables.py resnet20   # only the named ones

``hwflow models`` and ``hwflow evaluate`` read only these tables (no torch); run this after
changing or adding a catalog model and commit the tables. Tables whose model no longer
exists in any source are removed.
"""

from __future__ import annotations

import argparse
import sys
import time

from hwflow.catalog import MODEL_DIR, TABLE_SUFFIX, catalog_entries_from_sources, write_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="catalog models to regenerate (default: all)")
    args = parser.parse_args(argv)

    entries = catalog_entries_from_sources()
    unknown = sorted(set(args.names) - set(entries))
    if unknown:
        print(f"unknown model(s) {', '.join(unknown)}; the sources define "
              f"{', '.join(sorted(entries))}", file=sys.stderr)
        return 2
    for name in args.names or sorted(entries):
        start = time.perf_counter()
        path = write_table(entries[name])
        print(f"{path.relative_to(MODEL_DIR.parent)}  ({time.perf_counter() - start:.1f} s)")
    if not args.names:
        for table in sorted(MODEL_DIR.glob(f"*{TABLE_SUFFIX}")):
            if table.name[: -len(TABLE_SUFFIX)] not in entries:
                table.unlink()
                print(f"removed stale {table.relative_to(MODEL_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
