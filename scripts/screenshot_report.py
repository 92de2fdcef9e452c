"""Screenshots of a run's report.html with and without patient text, taken by headless Chromium.

From a run folder (``clinrag run ... --out RUN_DIR``) the script renders the report twice, as the run does
(:func:`clinrag.evaluation.report.render_report` with ``with_text`` false, then true: the run's predictions,
provenance, metrics, config and manifest, its cohort from manifest.json, the passages rebuilt for their sections),
into a temporary folder, and has Chromium screenshot each page: ``report_without_text.png`` and
``report_with_text.png`` in ``--out``. ``--html-without`` and ``--html-with`` screenshot report files already
written instead (e.g. two runs, one with ``--with-text``).

Chromium runs headless, offline (the report loads nothing, its Content-Security-Policy forbids it), with a
throwaway profile. The page's script opens the first wrong cell with a passage, so each screenshot shows the
banner, the headline numbers and, with a tall enough window, the cell viewer with its evidence panel.

Usage (the screenshots of docs/outputs.md, a 30-patient synthetic cohort and the default config):

    .venv/bin/clinrag synth --out /tmp/rep_cohort --patients 30 --seed 3
    CLINRAG_CACHE_DIR=/tmp/rep_cache .venv/bin/clinrag run configs/default.yaml --cohort /tmp/rep_cohort \\
        --out /tmp/rep_run -q
    .venv/bin/python scripts/screenshot_report.py --run /tmp/rep_run --out docs/img

The report with text shows the synthetic cohort's invented identities: never run this on a real cohort's run
into a folder that is committed or shared (docs/img is).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-headless-shell", "chrome-headless-shell", "chromium-browser")
WINDOW = "1440,2750"


def find_chromium(explicit: str | None = None) -> str | None:
    """The Chromium binary to use: ``explicit``, else the first of :data:`CHROMIUM_NAMES` on PATH, else None."""
    if explicit:
        return explicit if Path(explicit).is_file() else shutil.which(explicit)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_version(binary: str) -> str:
    """``binary --version``'s first line (e.g. "Chromium 120.0.6099.224 built on Debian ...")."""
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "?"


def screenshot(binary: str, page: Path, png: Path, window: str = WINDOW, timeout: float = 120) -> None:
    """Load ``page`` in headless Chromium and write a PNG of the window's first ``window`` pixels.

    Raises:
        RuntimeError: Chromium exited without writing the PNG (its stderr's tail in the message).
    """
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            binary,
            "--headless",
            "--no-sandbox",  # root in a container; the page is ours and loads nothing
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--force-device-scale-factor=1",
            "--virtual-time-budget=5000",  # let the page's script build the cell viewer first
            f"--user-data-dir={profile}",
            f"--window-size={window}",
            f"--screenshot={png.resolve()}",
            page.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-1500:]}")


def render_run_reports(run_dir: Path, out: Path) -> tuple[Path, Path]:
    """Render a run folder's report without and with patient text into ``out``; returns both paths."""
    from clinrag.data.validate import load_cohort
    from clinrag.evaluation.report import write_report
    from clinrag.experiment.config import load_experiment
    from clinrag.text.passages import build_passages

    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    config = load_experiment(run_dir / "config.yaml")
    cohort = load_cohort(manifest["cohort"]["path"])
    with (run_dir / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        predictions = {row.pop("patient_id"): row for row in csv.DictReader(handle)}
    provenance = [
        json.loads(line)
        for line in (run_dir / "provenance.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    passages = build_passages(cohort, config.chunking).passages
    paths = []
    for with_text in (False, True):
        path = out / ("report_with_text.html" if with_text else "report_without_text.html")
        shown = config.model_copy(
            update={"report": config.report.model_copy(update={"with_text": with_text})}
        )
        write_report(
            path,
            cohort,
            predictions,
            provenance,
            metrics,
            shown.model_dump(mode="json"),
            manifest,
            title=f"clinrag run — {config.name}",
            with_text=with_text,
            passages=passages,
        )
        paths.append(path)
    return paths[0], paths[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, help="a run folder: its report is rendered without and with text")
    source.add_argument("--html-without", type=Path, help="a report.html written without --with-text")
    parser.add_argument("--html-with", type=Path, help="a report.html written with --with-text")
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="folder for the two PNG files")
    parser.add_argument("--window-size", default=WINDOW, help=f"WIDTH,HEIGHT in pixels (default {WINDOW})")
    parser.add_argument(
        "--chromium", help="the Chromium binary (default: chromium or its headless shell on PATH)"
    )
    args = parser.parse_args(argv)
    binary = find_chromium(args.chromium)
    if binary is None:
        print("no chromium found: apt-get install -y chromium (or chromium-headless-shell)", file=sys.stderr)
        return 2
    if args.html_without is not None and args.html_with is None:
        parser.error("--html-without needs --html-with")
    print(chromium_version(binary), file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="clinrag-report-") as tmp:
        if args.run is not None:
            without, with_text = render_run_reports(args.run, Path(tmp))
        else:
            without, with_text = args.html_without, args.html_with
        for page, name in ((without, "report_without_text.png"), (with_text, "report_with_text.png")):
            screenshot(binary, page, args.out / name, args.window_size)
            print(f"{args.out / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
