"""Sites: where neurons live, how they are found, and how they change (DESIGN.md §7)."""

from neuroplast.sites.axis import Axis
from neuroplast.sites.build import conv_site, gated_site, input_site, linear_site
from neuroplast.sites.consumers import VIEWS, ConsumerView, view_for
from neuroplast.sites.discover import Discovery, Skipped, explain_sites, find_sites
from neuroplast.sites.resolve import declared_sites, resolve_site
from neuroplast.sites.site import Site

__all__ = [
    "VIEWS", "Axis", "ConsumerView", "Discovery", "Site", "Skipped", "conv_site",
    "declared_sites", "explain_sites", "find_sites", "gated_site", "input_site", "linear_site",
    "resolve_site", "view_for",
]
