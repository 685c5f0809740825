"""grader: a grading harness for the Value autograd exercise."""

__version__ = "0.1.0"
