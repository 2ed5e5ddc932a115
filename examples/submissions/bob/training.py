# Bob's training: drops the last, shorter batch of every epoch.
import numpy as np

from clipping import clip_by_global_norm


def one_hot(labels, num_classes=10):
    labels = np.asarray(labels)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError("label out of range")
    return np.eye(num_classes)[labels]


def minibatches(n, batch_size, rng):
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def evaluate(model, X, Y):
    probs = model.forward(X)
    return model.loss(probs, Y), float(np.mean(probs.argmax(axis=1) == Y.argmax(axis=1)))


def train(model, X, Y, epochs=5, batch_size=32, lr=0.1, X_val=None, Y_val=None, max_grad_norm=None, rng=None):
    rng = rng or np.random.default_rng()
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for _ in range(epochs):
        for idx in minibatches(len(X), batch_size, rng):
            grads = model.gradients(X[idx], Y[idx])
            if max_grad_norm is not None:
                grads, _ = clip_by_global_norm(grads, max_grad_norm)
            model.step(grads, lr)
        loss, acc = evaluate(model, X, Y)
        history["loss"].append(loss)
        history["accuracy"].append(acc)
        if X_val is not None:
            val_loss, val_acc = evaluate(model, X_val, Y_val)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_acc)
    return history
