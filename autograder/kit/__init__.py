"""What the grader supplies to student code: stand-in modules, models and test functions.

Nothing here is a reference solution: the kit is public, ships with the
engine, and is what stands in for a student's ``clipping`` and ``backprop``
while another part is graded (so a fault in one part never costs another).
Every kit class keeps its state in the attributes named by ``STATE``, so a
sandbox can copy it into a worker and back by value.
"""
