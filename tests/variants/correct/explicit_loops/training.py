"""Part 5 with explicit Python loops and while-loops, as a careful beginner would write it."""
import numpy as np

from clipping import clip_by_global_norm


def one_hot(labels, num_classes=10):
    labels = list(np.asarray(labels).reshape(-1))
    for label in labels:
        if label < 0 or label >= num_classes:
            raise ValueError(f"label {label} is not in [0, {num_classes})")
    out = np.zeros((len(labels), num_classes), dtype=np.float64)
    for row, label in enumerate(labels):
        out[row, int(label)] = 1.0
    return out


def minibatches(n, batch_size, rng):
    shuffled = rng.permutation(n)
    batches = []
    start = 0
    while start < n:
        stop = min(start + batch_size, n)
        batches.append(shuffled[start:stop])
        start = stop
    return batches


def evaluate(model, X, Y):
    probs = model.forward(X)
    loss = model.loss(probs, Y)
    correct = 0
    for p_row, y_row in zip(probs, Y):
        if np.argmax(p_row) == np.argmax(y_row):
            correct += 1
    return float(loss), correct / len(X)


def train(model, X, Y, epochs=5, batch_size=32, lr=0.1, X_val=None, Y_val=None, max_grad_norm=None, rng=None):
    if rng is None:
        rng = np.random.default_rng()
    losses, accuracies, val_losses, val_accuracies = [], [], [], []
    has_val = X_val is not None and Y_val is not None
    epoch = 0
    while epoch < epochs:
        batches = minibatches(X.shape[0], batch_size, rng)
        for b in range(len(batches)):
            X_batch = np.take(X, batches[b], axis=0)
            Y_batch = np.take(Y, batches[b], axis=0)
            grads = model.gradients(X_batch, Y_batch)
            if max_grad_norm:
                grads = clip_by_global_norm(grads, max_grad_norm)[0]
            model.step(grads, lr)
        train_loss, train_acc = evaluate(model, X, Y)
        losses.append(train_loss)
        accuracies.append(train_acc)
        if has_val:
            v_loss, v_acc = evaluate(model, X_val, Y_val)
            val_losses.append(v_loss)
            val_accuracies.append(v_acc)
        epoch += 1
    return {"loss": losses, "accuracy": accuracies, "val_loss": val_losses, "val_accuracy": val_accuracies}
