"""Run lessons under several seeds and kernel paths and tabulate which pass.

A lesson's checks must hold for every ``SNGAN_SEED`` and every machine. This script runs each
lesson as a reader would (nbconvert, one thread), for every combination asked for, keeps going
past a failing cell so that one run lists every failing check, and writes one JSON line per run
(appended, with the commit it ran on; ``--resume`` skips the runs already recorded).
``--table`` prints the pass table (lesson x seed).

    .venv/bin/python tools/seed_sweep.py --budget quick --seeds 0-9 --cpu default,native
    .venv/bin/python tools/seed_sweep.py --budget full --seeds 0-2 --cpu default,native
    .venv/bin/python tools/seed_sweep.py --table            # the table of what has run

``--cpu`` takes values of ``ATEN_CPU_CAPABILITY`` (``default``, ``avx2``, ``avx512``, ...);
``native`` leaves it unset, so PyTorch picks the machine's best kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "_build" / "seed-sweep.jsonl"


def lessons() -> list[str]:
    return [lesson["file"] for lesson in tomllib.loads((ROOT / "book.toml").read_text())["lessons"]]


def seeds(text: str) -> list[int]:
    """'0-9' or '0,3,5' -> a list of seeds."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def errors_of(notebook: Path) -> list[str]:
    """One line per cell that raised, except those tagged to raise (``raises-exception``): the
    cell's number and the exception's first line."""
    found = []
    for number, cell in enumerate(json.loads(notebook.read_text())["cells"]):
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                value = (out.get("evalue") or "").strip().splitlines()
                found.append(f"cell {number}: {out['ename']}: {value[0][:200] if value else ''}")
    return found


def commit() -> str:
    """The checked-out commit (with ``+`` when the working tree has changes)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True).stdout.strip()  # fmt: skip

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + ("+" if dirty else "")


def run_one(lesson: str, seed: int, cpu: str, budget: str, keep: Path | None = None) -> dict:
    env = os.environ | {"SNGAN_SEED": str(seed), "SNGAN_BUDGET": budget, "OMP_NUM_THREADS": "1"}
    env.pop("ATEN_CPU_CAPABILITY", None)
    if cpu != "native":
        env["ATEN_CPU_CAPABILITY"] = cpu
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.ipynb"
        proc = subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
             "--allow-errors", "--ExecutePreprocessor.timeout=1800",
             "--ExecutePreprocessor.kernel_name=python3", "--output", str(out),
             str(ROOT / "notebooks" / f"{lesson}.ipynb")],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        errors = errors_of(out) if out.exists() else [f"nbconvert failed: {proc.stderr[-300:]}"]
        if keep is not None and out.exists():
            keep.mkdir(parents=True, exist_ok=True)
            out.replace(keep / f"{lesson}.{budget}.{cpu}.s{seed}.ipynb")
    return dict(lesson=lesson, seed=seed, cpu=cpu, budget=budget, ok=not errors, errors=errors,
                seconds=round(time.time() - start, 1), commit=commit())  # fmt: skip


def table(records: list[dict]) -> str:
    """Markdown: a row per lesson, a column per (budget, cpu, seed); the newest record wins."""
    last = {(r["lesson"], r["budget"], r["cpu"], r["seed"]): r for r in records}
    columns = sorted({k[1:] for k in last}, key=lambda c: (c[0] != "quick", c[1], c[2]))
    head = [f"{b} {c} s{s}" for b, c, s in columns]
    rows = ["| lesson | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for lesson in lessons():
        cells = []
        for col in columns:
            r = last.get((lesson, *col))
            cells.append("" if r is None else "pass" if r["ok"] else "**FAIL**")
        rows.append(f"| {lesson[:2]} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lessons", default="all", help="comma-separated numbers, e.g. 05,07")
    ap.add_argument("--seeds", default="0", help="e.g. 0-9 or 0,1")
    ap.add_argument("--cpu", default="default,native", help="ATEN_CPU_CAPABILITY values")
    ap.add_argument("--budget", default="quick", choices=["quick", "full"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--record", type=Path, default=RECORD)
    ap.add_argument("--keep", type=Path, default=None, help="keep the executed notebooks here")
    ap.add_argument("--table", action="store_true", help="print the pass table and stop")
    ap.add_argument("--resume", action="store_true", help="skip the runs already recorded")
    args = ap.parse_args()
    if args.table:
        records = [json.loads(line) for line in args.record.read_text().splitlines() if line]
        print(table(records))
        failed = [r for r in records if not r["ok"]]
        for r in failed:
            print(f"{r['lesson']} {r['budget']} {r['cpu']} seed {r['seed']}:", *r["errors"])
        return
    chosen = lessons()
    if args.lessons != "all":
        wanted = args.lessons.split(",")
        chosen = [name for name in chosen if name[:2] in wanted]
    jobs = [(ls, s, c, args.budget) for c in args.cpu.split(",") for s in seeds(args.seeds)
            for ls in chosen]  # fmt: skip
    if args.resume and args.record.exists():
        done = {(r["lesson"], r["seed"], r["cpu"], r["budget"])
                for r in map(json.loads, args.record.read_text().splitlines()) if r}  # fmt: skip
        jobs = [job for job in jobs if job not in done]
    args.record.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool, args.record.open("a") as record:
        for result in pool.map(lambda job: run_one(*job, keep=args.keep), jobs):
            record.write(json.dumps(result) + "\n")
            record.flush()
            status = "pass" if result["ok"] else "FAIL " + " | ".join(result["errors"])
            where = f"{result['lesson']} {result['budget']} {result['cpu']} seed {result['seed']}"
            print(f"{where} {result['seconds']:.0f} s: {status}", flush=True)


if __name__ == "__main__":
    main()
