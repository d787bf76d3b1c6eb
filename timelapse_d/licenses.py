"""Flickr's photo licenses: one table of ids 0-16 with names, URLs and what each allows.

Ids, Flickr's own names and URLs are those of ``flickr.photos.licenses.getInfo``. ``name`` is the
short, standard name used in ``sources.license_name`` and in attribution lines ("CC BY 2.0");
``flickr_name`` is Flickr's label ("Attribution License"). ``derivatives`` says whether adapted
material (clips, resized frames, flow fields) may be redistributed; ``commercial`` whether
commercial use is allowed.

    >>> FLICKR_LICENSES["4"].name, FLICKR_LICENSES["4"].url
    ('CC BY 2.0', 'https://creativecommons.org/licenses/by/2.0/')
    >>> DEFAULT_FLICKR_LICENSES  # no "All Rights Reserved", no NoDerivs
    ('1', '2', '4', '5', '7', '8', '9', '10', '11', '12', '14', '15')
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlickrLicense:
    id: str  # Flickr's license id, as the API writes it ("0".."16")
    name: str  # short standard name, e.g. "CC BY-SA 4.0"
    flickr_name: str  # the name flickr.photos.licenses.getInfo gives
    url: str
    spdx: str  # SPDX identifier, "" where there is none
    derivatives: bool  # adapted material may be redistributed
    commercial: bool  # commercial use allowed


def _cc(id_: str, terms: str, version: str, flickr_name: str) -> FlickrLicense:
    return FlickrLicense(id_, f"CC {terms.upper()} {version}", flickr_name,
                         f"https://creativecommons.org/licenses/{terms}/{version}/",
                         f"CC-{terms.upper()}-{version}", derivatives="nd" not in terms.split("-"),
                         commercial="nc" not in terms.split("-"))


FLICKR_LICENSES: dict[str, FlickrLicense] = {lic.id: lic for lic in (
    FlickrLicense("0", "All Rights Reserved", "All Rights Reserved",
                  "https://www.flickrhelp.com/hc/en-us/articles/10710266545556-Using-Flickr-images-shared-by-other-members",
                  "", derivatives=False, commercial=False),
    _cc("1", "by-nc-sa", "2.0", "Attribution-NonCommercial-ShareAlike License"),
    _cc("2", "by-nc", "2.0", "Attribution-NonCommercial License"),
    _cc("3", "by-nc-nd", "2.0", "Attribution-NonCommercial-NoDerivs License"),
    _cc("4", "by", "2.0", "Attribution License"),
    _cc("5", "by-sa", "2.0", "Attribution-ShareAlike License"),
    _cc("6", "by-nd", "2.0", "Attribution-NoDerivs License"),
    FlickrLicense("7", "No known copyright restrictions", "No known copyright restrictions",
                  "https://www.flickr.com/commons/usage/", "", derivatives=True, commercial=True),
    FlickrLicense("8", "United States Government Work", "United States Government Work",
                  "https://www.usa.gov/government-copyright", "", derivatives=True, commercial=True),
    FlickrLicense("9", "CC0 1.0", "Public Domain Dedication (CC0)",
                  "https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0", derivatives=True, commercial=True),
    FlickrLicense("10", "Public Domain Mark 1.0", "Public Domain Mark",
                  "https://creativecommons.org/publicdomain/mark/1.0/", "", derivatives=True, commercial=True),
    _cc("11", "by", "4.0", "CC BY 4.0"),
    _cc("12", "by-sa", "4.0", "CC BY-SA 4.0"),
    _cc("13", "by-nd", "4.0", "CC BY-ND 4.0"),
    _cc("14", "by-nc", "4.0", "CC BY-NC 4.0"),
    _cc("15", "by-nc-sa", "4.0", "CC BY-NC-SA 4.0"),
    _cc("16", "by-nc-nd", "4.0", "CC BY-NC-ND 4.0"),
)}

# The default filter of the flickr source: licenses that allow redistributing derivatives.
DEFAULT_FLICKR_LICENSES: tuple[str, ...] = tuple(lic.id for lic in FLICKR_LICENSES.values() if lic.derivatives)


def flickr_license(license_id: object) -> FlickrLicense:
    """The license with Flickr id ``license_id`` (``4`` or ``"4"``); KeyError naming it if unknown."""
    try:
        return FLICKR_LICENSES[str(int(str(license_id)))]
    except (KeyError, ValueError):
        raise KeyError(f"unknown Flickr license id {license_id!r}; known: {', '.join(FLICKR_LICENSES)}") from None
