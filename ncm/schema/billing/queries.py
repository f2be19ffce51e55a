from __future__ import annotations

import strawberry


@strawberry.type
class BillingQuery:
    pass


@strawberry.type
class BillingViewer:
    """The viewer's billing fields (composed into `Viewer`)."""
