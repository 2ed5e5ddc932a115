"""A sandboxed autograder and coursework package for one deep-learning lecture.

Layers, each importing only those before it:
errors -> config -> data -> release -> sandbox -> harness -> grading -> reports -> cli.
"""

PART_IDS = ("initializers", "clipping", "backprop", "debugging", "training")

__version__ = "0.1.0"
