"""Hypothesis settings for the property tests (issue 12): one profile, reproducible.

``derandomize``: the examples come from each test's own name, not a random seed, so
every CI run tries the same inputs and a failure seen once is seen again. ``database``
None: no example database is written into the checkout (hypothesis still caches the
source's constants in ``.hypothesis/``, which git ignores). No deadline: a shared CI
machine is slow at times, and linear time is asserted by counting work, never by the
clock.

The profile is global to the pytest process: hypothesis tests collected after this
directory (tests/unit) run with it too, unless their own ``@settings`` say otherwise.
"""

from hypothesis import settings

settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True, database=None)
settings.load_profile("ci")
