"""`smart-support eval`: routing accuracy and tau-style task runs, graded from the API's state.

`sets` reads an eval.yaml, `routing` scores the runtime's own router, `customers` plays the
customer (scripted lines or an LLM given instructions), `tasks` runs a task through the real
engine and grades it, `tau2` holds tau2-bench's tasks and their grading, `gold` replays tau2's
gold actions through our tools, `report` computes pass^k and writes JSON and HTML.
"""

from smart_support.evals.report import pass_hat_k
from smart_support.evals.sets import EvalSet, load_eval_set

__all__ = ["EvalSet", "load_eval_set", "pass_hat_k"]
