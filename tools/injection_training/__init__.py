"""Training of the guardrails' injection classifier (scikit-learn; the dev extra).

    python -m tools.injection_training.train            # rebuild guardrails/injection/injection_model.json.gz
    python -m tools.injection_training.train --check    # rebuild in memory, compare with the artifact
    python -m tools.injection_training.nested_cv        # nested CV of the whole training procedure

Inference (guardrails/injection/model.py) reads the artifact with numpy only; nothing in the runtime
packages imports this folder or scikit-learn.
"""
