# Alice's training loop.
import numpy as np

from clipping import clip_by_global_norm


def one_hot(labels, num_classes=10):
    labels = np.asarray(labels, dtype=int)
    if ((labels < 0) | (labels >= num_classes)).any():
        raise ValueError("label out of range")
    return np.eye(num_classes)[labels]


def minibatches(n, batch_size, rng):
    perm = rng.permutation(n)
    return np.array_split(perm, range(batch_size, n, batch_size)) if n else []


def evaluate(model, X, Y):
    probs = model.forward(X)
    return float(model.loss(probs, Y)), float((probs.argmax(1) == Y.argmax(1)).mean())


def train(model, X, Y, epochs=5, batch_size=32, lr=0.1, X_val=None, Y_val=None, max_grad_norm=None, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    hist = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for _epoch in range(epochs):
        for batch in minibatches(len(X), batch_size, rng):
            g = model.gradients(X[batch], Y[batch])
            if max_grad_norm is not None:
                g, _norm = clip_by_global_norm(g, max_grad_norm)
            model.step(g, lr)
        loss, acc = evaluate(model, X, Y)
        hist["loss"].append(loss)
        hist["accuracy"].append(acc)
        if X_val is not None:
            vl, va = evaluate(model, X_val, Y_val)
            hist["val_loss"].append(vl)
            hist["val_accuracy"].append(va)
    return hist
