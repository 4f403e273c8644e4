"""``bertlab homework``: build the students' notebooks, list the graded checks, grade a class."""

from __future__ import annotations

import sys
from pathlib import Path

from bertlab.homework import list_checks
from bertlab.homework.grader import describe, grade_class, score_line
from bertlab.homework.runner import Setup
from bertlab.homework.sample_class import write_sample_class
from bertlab.homework.sandbox import Limits, bubblewrap
from bertlab.homework.student import build_student
from bertlab.homework.submissions import SubmissionError
from bertlab.paths import REPO_ROOT, cache_dir

DEFAULT_NOTEBOOKS = REPO_ROOT / "notebooks"
DEFAULT_OUT = Path("build") / "student-notebooks"
DEFAULTS = dict(timeout=600.0, memory=4096, threads=1, check_timeout=60.0)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "homework", help="graded exercises: build the student notebooks, list the checks, grade a class",
        description="The lesson notebooks (notebooks/NN_*.py) are the instructors' version with solutions "
                    "between '# BEGIN SOLUTION' and '# END SOLUTION'. build-student writes the students' "
                    "version, with each solution replaced by '# YOUR CODE HERE' / 'raise NotImplementedError'; "
                    "grade runs a folder of hand-ins, each in its own sandboxed kernel, into grades.csv, "
                    "feedback per student and a class summary.")
    sub = p.add_subparsers(dest="homework_command", metavar="ACTION")
    b = sub.add_parser("build-student", help="write the student notebooks (.ipynb and .py), solutions stripped",
                       epilog="example: bertlab homework build-student --out build/student-notebooks")
    b.add_argument("--notebooks", type=Path, default=DEFAULT_NOTEBOOKS,
                   help="folder with the instructors' NN_name.py lessons (default: the checkout's notebooks/)")
    b.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    b.set_defaults(handler=build_student_command)
    ls = sub.add_parser("list", help="list the graded checks")
    ls.add_argument("--lesson", type=int, help="only this lesson's checks")
    ls.set_defaults(handler=list_command)
    _grade_parser(sub)
    s = sub.add_parser("sample-class", help="write a made-up class (honest and hostile hand-ins) to try grade on",
                       epilog="example: bertlab homework sample-class build/sample-class --lesson 3 --tiny")
    s.add_argument("out", type=Path, help="folder to write the hand-ins and roster.txt into")
    s.add_argument("--lesson", type=int, default=3, help="which lesson the class hands in (default 3)")
    s.add_argument("--tiny", action="store_true",
                   help="only the exercise cells of the lesson (grades in seconds) instead of the whole lesson")
    s.set_defaults(handler=sample_class_command)
    p.set_defaults(handler=lambda args: p.print_help() or 0)


def _grade_parser(sub) -> None:
    g = sub.add_parser(
        "grade", help="grade a folder of hand-ins: grades.csv, feedback per student, a class summary",
        description="Each hand-in (.ipynb or jupytext .py) runs in a scratch copy with the course data, in its own "
                    "kernel with a wall-clock, memory and thread limit (read-only machine under bubblewrap when "
                    "installed), FAST mode unless --full; then the lesson's checks run on fresh hidden inputs. "
                    "The student is the notebook's metadata.bertlab.student, else a '# student: NAME' line in the "
                    "first code cell, else the folder under SUBMISSIONS, else the file name without the lesson "
                    "part (alice_03_albert.ipynb -> alice).",
        epilog="example: bertlab homework grade submissions/ --lesson 3 --out grades/ --jobs 2")
    g.add_argument("submissions", type=Path, help="folder of hand-ins (any depth)")
    g.add_argument("--out", type=Path, required=True, help="folder for grades.csv, feedback/, summary.md, scores.png")
    g.add_argument("--lesson", type=int, help="grade every hand-in as this lesson (default: from the file name "
                                              "NN_…, else from the notebook's check() calls)")
    g.add_argument("--jobs", type=int, default=2, help="notebooks run at a time (default 2)")
    g.add_argument("--timeout", type=float, default=DEFAULTS["timeout"],
                   help=f"wall-clock seconds per notebook, kernel start excluded (default {DEFAULTS['timeout']:g})")
    g.add_argument("--check-timeout", type=float, default=DEFAULTS["check_timeout"],
                   help=f"seconds per check on the hidden inputs (default {DEFAULTS['check_timeout']:g})")
    g.add_argument("--memory", type=int, default=DEFAULTS["memory"],
                   help=f"address-space limit per kernel in MB (default {DEFAULTS['memory']})")
    g.add_argument("--threads", type=int, default=DEFAULTS["threads"],
                   help=f"CPU threads per kernel (OMP_NUM_THREADS and friends; default {DEFAULTS['threads']})")
    g.add_argument("--points", type=Path, help="TOML or JSON file of points per check, e.g. {\"mlm_masking\": 5} "
                                               "(default: 10 per check)")
    g.add_argument("--roster", type=Path, help="file with one student name per line: unknown and missing names "
                                               "are reported")
    g.add_argument("--data", type=Path, default=None,
                   help="course data copied into each scratch folder as BERTLAB_CACHE (default: bertlab's cache, "
                        "which holds the corpora, tokenizers and prepared course models)")
    g.add_argument("--runs", type=Path, default=None,
                   help="course runs copied in as BERTLAB_RUNS (e.g. a runs/ holding lesson1-en)")
    g.add_argument("--full", action="store_true", help="run the lessons' real trainings instead of FAST mode")
    g.add_argument("--seed", type=str, default=None, help="fix the hidden inputs (default: fresh ones per grading)")
    g.add_argument("--no-jail", action="store_true", help="do not use bubblewrap even where it is installed")
    g.set_defaults(handler=grade_command)


def build_student_command(args) -> int:
    built = build_student(args.notebooks, args.out)
    for item in built:
        print(f"{item.ipynb}  ({item.regions} solution{'s' if item.regions != 1 else ''} stripped)")
    print(f"{len(built)} student notebooks in {args.out}")
    return 0


def list_command(args) -> int:
    checks = list_checks(args.lesson)
    if not checks:
        print(f"no checks for lesson {args.lesson}")
        return 0
    for spec in checks:
        print(f"lesson {spec.lesson}  {spec.name:20s} {spec.title}  ({spec.points:g} points)\n{'':30s}{spec.expects}")
    return 0


def grade_command(args) -> int:
    try:
        limits = Limits(seconds=args.timeout, memory_mb=args.memory, threads=args.threads)
    except ValueError as err:
        print(f"bertlab homework grade: {err}", file=sys.stderr)
        return 2
    if not args.submissions.is_dir():  # before the set-up line, which would read as if grading had begun
        print(f"bertlab homework grade: submissions folder {args.submissions} does not exist; put the students' "
              f"notebooks there", file=sys.stderr)
        return 2
    data = args.data if args.data is not None else cache_dir()
    for flag, folder in (("--data", data), ("--runs", args.runs)):
        if folder is not None and not folder.is_dir():
            print(f"bertlab homework grade: {flag} {folder} is not a folder", file=sys.stderr)
            return 2
    setup = Setup(limits=limits, check_seconds=args.check_timeout, fast=not args.full, data=data, runs=args.runs,
                  jail=bubblewrap() is not None and not args.no_jail)
    if args.seed:
        setup.salt = args.seed
    print(describe(setup), flush=True)

    def done(outcome) -> None:
        got = sum(c.passed for c in outcome.checks)
        note = f"  ({outcome.problem})" if outcome.problem else ""
        print(f"  {outcome.submission.student:20s} lesson {outcome.submission.lesson}: {got}/{len(outcome.checks)} "
              f"checks passed, {outcome.seconds:.0f} s{note}", flush=True)

    try:
        graded = grade_class(args.submissions, args.out, setup, jobs=args.jobs, lesson=args.lesson,
                             roster=args.roster, points=args.points, on_done=done)
    except (ValueError, SubmissionError) as err:
        print(f"bertlab homework grade: {err}", file=sys.stderr)
        return 2
    print(f"scores: {score_line(graded)}")
    for problem in graded.report.problems:
        print(f"  to look at: {problem}")
    print(f"wrote {graded.csv}, {graded.summary}, {len(graded.feedback)} feedback files in {graded.out / 'feedback'}")
    return 0


def sample_class_command(args) -> int:
    try:
        written = write_sample_class(args.out, args.lesson, tiny=args.tiny)
    except ValueError as err:
        print(f"bertlab homework sample-class: {err}", file=sys.stderr)
        return 2
    timeout = 30 if args.tiny else 180  # loops_forever spends all of it
    print(f"{len(written)} hand-ins and roster.txt in {args.out}; grade them with:\n"
          f"  bertlab homework grade {args.out} --roster {args.out / 'roster.txt'} --out {args.out}-grades "
          f"--timeout {timeout}")
    return 0
