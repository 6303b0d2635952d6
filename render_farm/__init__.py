"""Render farm: a mesh collection rendered as a job of per-object tasks.

The same task code (:func:`aist_farm.tasks.run_task`) runs on a local process pool (the
default, ``aist render --workers N``) or on Celery workers fed through a Redis broker
(``aist farm submit|worker|status|retry``). The job's manifest and task states live beside
its output (``OUT/.farm/``), so any machine that sees the output folder can report on it.
"""
