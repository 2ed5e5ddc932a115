"""Part 5, hidden tests: random settings, the student against the live reference.

Every input is drawn from the ``rng`` fixture (new for every ``--seed-offset``):
labels and class counts, batch sizes that do and do not divide ``n``, model
shapes, learning rates, clipping thresholds below and above the batch
gradient norms, rows of the real MNIST sample. The trained models are compared
parameter by parameter.
"""
import numpy as np

from autograder.harness import expect_array, expect_raises, expect_scalar, expect_true, fail, graded

from .test_public import (
    HINT_CLIP,
    HINT_EVALUATE,
    HINT_MINIBATCHES,
    HINT_ONE_HOT,
    HINT_TRAIN,
    KEYS,
    call_student,
    describe,
    draws_after,
    expect_batches,
    expect_history,
    expect_params,
    expect_rng_advanced,
    fresh_model,
    mnist_rows,
    one_hot_rows,
    with_helper_notes,
)


def random_sizes(rng) -> tuple[int, int, int, int]:
    return (784, int(rng.integers(16, 129)), int(rng.integers(8, 65)), 10)


def random_settings(rng, n: int) -> dict:
    """Epochs, a batch size (usually not dividing n) and a learning rate."""
    batch_size = int(rng.choice([8, 16, 20, 25, 32, 50, 64, 100]))
    return {"epochs": int(rng.integers(1, 4)), "batch_size": batch_size, "lr": float(rng.uniform(0.02, 0.3))}


def compare_training(student, reference, sample, rng, tol, *, with_val: bool, max_grad_norm=None, hint=HINT_TRAIN):
    """One random run of the student's and the reference's train from identical models and generators."""
    n = int(rng.integers(120, 320))  # several batches of every size drawn, the last one usually shorter
    start = int(rng.integers(0, 3400))
    seed = int(rng.integers(2**31))
    X, Y = mnist_rows(sample, start, n, seed=seed)
    settings = random_settings(rng, n)
    if with_val:
        settings["X_val"], settings["Y_val"] = mnist_rows(sample, 4000, int(rng.integers(20, 120)), seed=seed)
    if max_grad_norm is not None:
        settings["max_grad_norm"] = max_grad_norm
    sizes, model_seed, rng_seed = random_sizes(rng), int(rng.integers(2**31)), int(rng.integers(2**31))

    expected_model = fresh_model(model_seed, sizes)
    expected_rng = np.random.default_rng(rng_seed)
    expected = reference.training.train(expected_model, X, Y, rng=expected_rng, **settings)

    expected_draws = draws_after(expected_rng)

    def check():
        model = fresh_model(model_seed, sizes)
        theirs = np.random.default_rng(rng_seed)
        what = describe("train", model, X, Y, **settings, rng=theirs)
        found = call_student(student.training.train, what, hint, model, X, Y, rng=theirs, **settings)
        expect_history(found, expected, what=what, rtol=tol.history_rtol, hint=hint)
        expect_params(model, expected_model, what, tol.history_rtol, hint)
        expect_rng_advanced(draws_after(theirs), expected_draws, what, "train draws exactly one permutation per "
                            "epoch from rng (through minibatches) and nothing else")

    with_helper_notes(student, check)


@graded(1, visibility="hidden", oracle="reference", topic="4.1 Complete training pipeline (labels)")
def test_one_hot_random(student, reference, rng):
    for _ in range(10):
        k = int(rng.integers(1, 30))
        n = int(rng.integers(1, 60))
        labels = rng.integers(0, k, size=n)
        kind = rng.integers(4)
        passed = labels.tolist() if kind == 0 else labels.astype(np.int32) if kind == 1 else \
            labels.astype(np.uint8) if kind == 2 else labels
        what = describe("one_hot", passed, k)
        expected = reference.training.one_hot(labels, k)
        found = call_student(student.training.one_hot, what, HINT_ONE_HOT, passed, k)
        expect_array(found, expected, what=what, dtype=np.float64, rtol=0, atol=0, hint=HINT_ONE_HOT)
        bad = labels.tolist()
        bad[int(rng.integers(n))] = int(rng.choice([-1, k, k + int(rng.integers(1, 5)), -k]))
        expect_raises(ValueError, lambda b=bad, k=k: student.training.one_hot(b, k),
                      what=f"one_hot({bad}, {k})"[:200], hint="labels outside [0, num_classes) raise ValueError")


@graded(1.5, visibility="hidden", oracle="reference", topic="4.1 Complete training pipeline (mini-batches)")
def test_minibatches_random(student, reference, rng):
    for _ in range(20):
        n = int(rng.integers(1, 1000))
        batch_size = int(rng.integers(1, n + 10))
        seed = int(rng.integers(2**31))
        what = f"minibatches({n}, {batch_size}, np.random.default_rng({seed}))"
        ref_rng = np.random.default_rng(seed)
        expected = [np.asarray(b) for b in reference.training.minibatches(n, batch_size, ref_rng)]
        theirs = np.random.default_rng(seed)
        found = call_student(student.training.minibatches, what, HINT_MINIBATCHES, n, batch_size, theirs)
        expect_batches(found, expected, what)
        expect_rng_advanced(draws_after(theirs), draws_after(ref_rng), what, HINT_MINIBATCHES)


@graded(1.5, visibility="hidden", oracle="reference", topic="4.1 Complete training pipeline (evaluation)")
def test_evaluate_random(student, reference, rng, tol):
    for _ in range(6):
        d0, classes = int(rng.integers(2, 40)), int(rng.integers(2, 12))
        sizes = (d0, int(rng.integers(2, 30)), int(rng.integers(2, 30)), classes)
        model = fresh_model(int(rng.integers(2**31)), sizes)
        m = int(rng.integers(1, 300))
        X = rng.standard_normal((m, d0)) * rng.uniform(0.1, 3)
        Y = one_hot_rows(rng.integers(0, classes, size=m), classes)
        what = describe("evaluate", model, X, Y)
        expected = reference.training.evaluate(model, X, Y)
        found = call_student(student.training.evaluate, what, HINT_EVALUATE, model, X, Y)
        if not isinstance(found, (tuple, list)) or len(found) != 2:
            fail(f"{what} should return a tuple (loss, accuracy), but returned {type(found).__name__}", HINT_EVALUATE)
        expect_scalar(found[0], expected[0], what=f"the loss from {what}", rtol=tol.rtol, atol=tol.atol,
                      hint=HINT_EVALUATE)
        expect_scalar(found[1], expected[1], what=f"the accuracy from {what}", rtol=tol.rtol, atol=tol.atol,
                      hint=HINT_EVALUATE)


@graded(2, visibility="hidden", oracle="reference", topic="4.1 Complete training pipeline")
def test_train_random_settings(student, reference, mnist_sample, rng, tol):
    for with_val in (False, True):
        compare_training(student, reference, mnist_sample, rng, tol, with_val=with_val)


@graded(2.5, visibility="hidden", oracle="reference", topic="2.3 Gradient clipping; 4.1 Complete training pipeline")
def test_train_random_clipping(student, reference, mnist_sample, rng, tol):
    # Batch gradient norms on these runs lie between about 1 and 8: thresholds from 0.5 to 4 clip some or all.
    for with_val in (False, True):
        compare_training(student, reference, mnist_sample, rng, tol, with_val=with_val,
                         max_grad_norm=float(rng.uniform(0.5, 4.0)), hint=HINT_CLIP)


@graded(0.5, visibility="hidden", oracle="reference", topic="4.1 Complete training pipeline")
def test_train_default_settings(student, reference, mnist_sample, rng, tol):
    """train(model, X, Y, rng=rng) uses the contract's defaults: epochs=5, batch_size=32, lr=0.1, no clipping.

    The history has five entries per list and the model moves exactly as the
    reference's with the same defaults (found by the mutation audit,
    docs/mutation-audit.md).
    """
    n = 250  # not a multiple of 32: the last batch of each epoch is shorter
    X, Y = mnist_rows(mnist_sample, int(rng.integers(0, 3700)), n, seed=int(rng.integers(2**31)))
    sizes, model_seed, rng_seed = (784, 24, 16, 10), int(rng.integers(2**31)), int(rng.integers(2**31))
    expected_model = fresh_model(model_seed, sizes)
    expected_rng = np.random.default_rng(rng_seed)
    expected = reference.training.train(expected_model, X, Y, rng=expected_rng)
    expected_draws = draws_after(expected_rng)
    hint = "train's defaults are those of the handout's signature: epochs=5, batch_size=32, lr=0.1, " \
           "max_grad_norm=None. " + HINT_TRAIN

    def check():
        model = fresh_model(model_seed, sizes)
        theirs = np.random.default_rng(rng_seed)
        what = describe("train", model, X, Y, rng=theirs) + " (default epochs, batch_size and lr)"
        found = call_student(student.training.train, what, hint, model, X, Y, rng=theirs)
        expect_history(found, expected, what=what, rtol=tol.history_rtol, hint=hint)
        expect_params(model, expected_model, what, tol.history_rtol, hint)
        expect_rng_advanced(draws_after(theirs), expected_draws, what, "train draws exactly one permutation per "
                            "epoch from rng (through minibatches) and nothing else; the default is 5 epochs")

    with_helper_notes(student, check)


@graded(1, visibility="hidden", oracle="property", topic="4.1 Complete training pipeline")
def test_train_leaves_data_alone(student, mnist_sample, rng):
    """Inputs are not modified, rng=None works, and the history has one entry per epoch."""
    X, Y = mnist_rows(mnist_sample, int(rng.integers(0, 4000)), 120, seed=int(rng.integers(2**31)))
    X_val, Y_val = mnist_rows(mnist_sample, 4500, 40)
    saved = [a.copy() for a in (X, Y, X_val, Y_val)]
    model = fresh_model(int(rng.integers(2**31)), (784, 16, 16, 10))
    what = describe("train", model, X, Y, epochs=2, batch_size=50, lr=0.1, X_val=X_val, Y_val=Y_val)
    history = call_student(student.training.train, what, HINT_TRAIN, model, X, Y, epochs=2, batch_size=50, lr=0.1,
                           X_val=X_val, Y_val=Y_val)
    for name, now, before in zip(("X", "Y", "X_val", "Y_val"), (X, Y, X_val, Y_val), saved, strict=True):
        expect_true(np.array_equal(now, before), f"{what} changed its argument {name}",
                    "train must not modify the data it is given (index with X[idx], which copies)")
    expect_true(isinstance(history, dict) and all(k in history for k in KEYS),
                f"{what} (no rng given) should return a dict with keys {list(KEYS)}, got {history!r}"[:400], HINT_TRAIN)
    for key in KEYS:
        expect_true(len(history[key]) == 2, f"{what} (no rng given): history[{key!r}] has {len(history[key])} "
                    "entries, expected 2 (one per epoch)", HINT_TRAIN)
