"""Privacy models: each says, once, when a class (a published combination) violates it.

A model names the class statistics it reads (`needs`) and answers, for every class of a node at
once, whether the class violates it (`violates`, over numpy arrays). The engine computes only
the statistics its models need and suppresses a class that violates any of them; the nightly
run and the CSV engine share these rules. The history model is enforced on whole viewing
histories by the engine (models/history.py), not as a rule on classes.

Class statistics: `people` (distinct persons), `l_values` (distinct values of the sensitive
column, when one is set).
"""

from __future__ import annotations

from transforms.privacy.models.base import Model
from transforms.privacy.models.k_anonymity import KAnonymity
from transforms.privacy.models.l_diversity import LDiversity

__all__ = ["KAnonymity", "LDiversity", "Model"]
