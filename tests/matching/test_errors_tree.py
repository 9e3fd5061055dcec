"""matching/errors.py draws the matchers' one error tree: every MatchingError subclass of the package is in it."""
import importlib
import pkgutil
import re

import matching
from matching import errors


def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def test_the_drawn_tree_is_complete_and_every_matching_error_derives_from_the_root():
    outside = []
    for module in pkgutil.iter_modules(matching.__path__, "matching."):
        try:
            loaded = importlib.import_module(module.name)
        except ImportError:  # an optional library (afis peers, onnxruntime) that is not installed
            continue
        outside += [f"{module.name}.{name}" for name, value in vars(loaded).items()
                    if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.name
                    and not issubclass(value, errors.MatchingError)]
    assert not outside  # an error of the package outside the tree
    drawn = set(re.findall(r"\+-- (\w+)", errors.__doc__))
    found = {c.__name__ for c in subclasses(errors.MatchingError)}
    assert found == drawn
    exceptions = {name for name, value in vars(errors).items() if isinstance(value, type)
                  and issubclass(value, BaseException)}
    assert exceptions == drawn | {"MatchingError"}
