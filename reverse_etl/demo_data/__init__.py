"""Sample sources for rsync-braze: a messy e-shop, CRM, point of sale and file drops, with ground truth.

``rsync-braze demo-data`` writes raw tables (schema ``raw``) that the dbt staging models read, and the
truth of which person each record is (schema ``raw_truth``) that only tests read. Generation is
deterministic for a seed and streams into the warehouse with COPY, so memory stays flat at any size.
See docs/demo-data.md.
"""

from .runner import DEFAULT_AS_OF, DemoOptions, DemoSummary, generate

__all__ = ["DEFAULT_AS_OF", "DemoOptions", "DemoSummary", "generate"]
