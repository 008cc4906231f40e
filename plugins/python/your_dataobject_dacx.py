# The data object the docs' your_activity sample imports
# (documentation-samples-python, your_app/your_dataobject_dacx.py).
from dataclasses import dataclass


@dataclass
class YourParams:
    greeting: str
    name: str
