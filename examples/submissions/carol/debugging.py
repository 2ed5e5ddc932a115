# Carol's analyzer: does not parse (a missing closing bracket).
NOT_DECREASING = "Loss did not decrease - check learning rate"

def debug_training(loss_history, val_loss_history=None):
    issues = [
    return issues
