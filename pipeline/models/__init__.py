"""Models.  Argument validation of torch.distributions is off: it costs more than the models'
own arithmetic in the per-step loops, and the objectives' NaN guard catches what it would."""
from torch.distributions import Distribution

Distribution.set_default_validate_args(False)
