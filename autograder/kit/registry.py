"""What of the kit may cross into student code by name: classes, functions and stand-in modules."""
import importlib

from autograder.kit.functions import Cubic, ModelLoss, Quadratic, SinProduct
from autograder.kit.models import BrokenMLP, GraderMLP

# Kit functions a suite may run beside student code (Backend.run_kit), as "module.function".
KIT_FUNCTIONS = frozenset({"training.sgd", "calls.each", "calls.each_with_attribute", "calls.set_attributes",
                           "calls.get_attributes"})

# When a part is graded, these grader-supplied modules stand in for the
# student's own, so that a fault in one part never costs another
# (student-api.md, "A submission"). Values are modules of autograder.kit.
STAND_INS: dict[str, dict[str, str]] = {
    "training": {"clipping": "autograder.kit.clipping", "backprop": "autograder.kit.models"},
}


def resolve_kit_function(function: str):
    """``"training.sgd"`` -> ``autograder.kit.training.sgd``; only names in ``KIT_FUNCTIONS``.

    Raises:
        ValueError: for any other name.
    """
    if not isinstance(function, str) or function not in KIT_FUNCTIONS:
        raise ValueError(f"not a kit function: {function!r}")
    module, _, name = function.rpartition(".")
    return getattr(importlib.import_module(f"autograder.kit.{module}"), name)

KIT_CLASSES = {cls.__name__: cls for cls in (GraderMLP, BrokenMLP, Quadratic, SinProduct, Cubic, ModelLoss)}


def kit_name(obj) -> str | None:
    """The registry name of ``obj``'s class when it is exactly a kit class, else ``None``."""
    name = type(obj).__name__
    return name if KIT_CLASSES.get(name) is type(obj) else None
