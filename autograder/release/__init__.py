"""Build the student handout from the reference solutions.

One job per module, each using only those before it:

* ``errors``   -- :class:`ReleaseError`, naming the file and line at fault;
* ``markers``  -- the one scanner for ``### BEGIN/END SOLUTION`` and hidden-test regions;
* ``stubs``    -- a solution module -> the student's stub (nbgrader's ClearSolutions convention);
* ``nbsource`` -- the readable notebook sources in ``notebooks/`` -> cell specifications;
* ``notebooks``-- cell specifications + a solution module -> instructor and student notebooks;
* ``handout``  -- writes the whole handout folder (``autograder release OUT``).

Nothing is imported here eagerly: ``notebooks`` needs nbgrader, which only
instructors install.
"""
