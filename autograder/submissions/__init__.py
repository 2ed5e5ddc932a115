"""Reading submissions safely: folders, zips, notebooks and nbgrader's layout, into plain ``<part>.py`` files.

``find_entries(folder)`` lists the students (ids safe as file names);
``stage(entry, target)`` writes one student's parts into ``target`` and says
per part which file was used, or why none could be.
"""
from autograder.submissions.names import assign_ids, clean_id
from autograder.submissions.reader import (
    Entry,
    PartSource,
    Staged,
    entry_for_path,
    find_entries,
    stage,
    stub_digest,
)
from autograder.submissions.sources import decode_source, notebook_to_module

__all__ = [
    "Entry",
    "PartSource",
    "Staged",
    "assign_ids",
    "clean_id",
    "decode_source",
    "entry_for_path",
    "find_entries",
    "notebook_to_module",
    "stage",
    "stub_digest",
]
