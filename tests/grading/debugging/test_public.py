"""Part 4, public tests: the training debug analyzer."""
from autograder.harness import expect_equal, graded

LECTURE_TRAIN = [2.3, 1.8, 1.2, 0.8, 0.5, 0.3, 0.2, 0.15, 0.12, 0.10]
LECTURE_VAL = [2.3, 1.9, 1.4, 1.2, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0]


@graded(2, visibility="public", oracle="golden", topic="3.1 Common problems: overfitting")
def test_lecture_example(student, golden):
    expected = golden("debugging/lecture_example", lambda ref: ref.debugging.debug_training(LECTURE_TRAIN, LECTURE_VAL))
    found = student.debugging.debug_training(LECTURE_TRAIN, LECTURE_VAL)
    expect_equal(found, expected, what="debug_training(lecture train, lecture val)",
                 hint="compare the last validation loss with the best one, not the first")
