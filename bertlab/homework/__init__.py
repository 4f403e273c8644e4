"""Graded exercises for the lesson notebooks: ``check(name, fn)`` runs hidden tests and explains the result.

    from bertlab.homework import check
    check("mlm_masking", my_mask_tokens)     # prints which rules hold and, for each broken one, why

Each lesson has its checks in its own module (``lesson1_mlm`` … ``lesson6_finetuning``); ``list_checks()``
names them all. ``student.build_student`` turns the instructors' notebooks (``notebooks/*.py``, solutions
between ``# BEGIN SOLUTION`` and ``# END SOLUTION``) into the students' version:
``bertlab homework build-student --out DIR``. ``bertlab homework grade SUBMISSIONS --out DIR`` grades a class:
each hand-in in its own sandboxed kernel (``sandbox``, ``runner``), the checks run after the student's cells on
fresh hidden inputs and report through signed lines (``channel``), into a grade sheet and feedback (``report``).
"""

from bertlab.homework.grading import (CHECKS, CheckResult, RuleResult, attempt, check, list_checks, register,
                                      run_check)

__all__ = ["check", "run_check", "attempt", "list_checks", "register", "CheckResult", "RuleResult", "CHECKS"]
