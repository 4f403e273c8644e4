"""``bertlab homework``: build the students' notebooks, list the graded checks."""

from __future__ import annotations

from pathlib import Path

from bertlab.homework import list_checks
from bertlab.homework.student import build_student
from bertlab.paths import REPO_ROOT

DEFAULT_NOTEBOOKS = REPO_ROOT / "notebooks"
DEFAULT_OUT = Path("build") / "student-notebooks"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "homework", help="graded exercises: build the student notebooks, list the checks",
        description="The lesson notebooks (notebooks/NN_*.py) are the instructors' version with solutions "
                    "between '# BEGIN SOLUTION' and '# END SOLUTION'. build-student writes the students' "
                    "version, with each solution replaced by '# YOUR CODE HERE' / 'raise NotImplementedError'.")
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
    p.set_defaults(handler=lambda args: p.print_help() or 0)


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
        print(f"lesson {spec.lesson}  {spec.name:20s} {spec.title}\n{'':30s}{spec.expects}")
    return 0
