"""Coordinate reference systems of Vietnamese data: VN-2000 geographic, UTM and the provincial TM-3 zones.

VN-2000 is tied to WGS 84 by the 7-parameter transformation of Circular 973/2001/TT-TCĐC (EPSG
transformation "VN-2000 to WGS 84 (2)", about 1 m). Files written by Vietnamese GIS software often carry
a home-made VN-2000 definition that PROJ cannot tie to an EPSG code; without the 7 parameters such a
file would be placed some 200-400 m off. `normalise` recognises those definitions and swaps in the
matching EPSG system (VN-2000 / TM-3 104-00 for Sơn La's provincial zone, EPSG:9206), or attaches the
parameters explicitly.
"""

from __future__ import annotations

import re

from pyproj import CRS
from pyproj.exceptions import CRSError

# EPSG codes of VN-2000 systems, by (projection, central meridian, scale factor).
VN2000_GEOGRAPHIC = 4756
VN2000_PROJECTED = {
    ("utm", 105.0, 0.9996): 3405,
    ("utm", 111.0, 0.9996): 3406,
    ("tm", 103.0, 0.9999): 9205,
    ("tm", 104.0, 0.9999): 9206,
    ("tm", 104.5, 0.9999): 9207,
    ("tm", 104.75, 0.9999): 9208,
    ("tm", 105.5, 0.9999): 9209,
    ("tm", 105.75, 0.9999): 9210,
    ("tm", 106.0, 0.9999): 9211,
    ("tm", 106.25, 0.9999): 9212,
    ("tm", 106.5, 0.9999): 9213,
    ("tm", 107.0, 0.9999): 9214,
    ("tm", 107.25, 0.9999): 9215,
    ("tm", 107.5, 0.9999): 9216,
    ("tm", 108.25, 0.9999): 9217,
    ("tm", 108.5, 0.9999): 9218,
    ("tm", 107.75, 0.9999): 5899,
}
# Circular 973/2001 parameters in PROJ's position-vector convention (EPSG lists them coordinate-frame).
VN2000_TOWGS84 = "-191.90441429,-39.30318279,-111.45032835,0.00928836,-0.01975479,0.00427372,0.252906278"
SHORT_NAMES = {
    "vn2000": "EPSG:4756",
    "vn2000-utm48": "EPSG:3405",
    "vn2000-104": "EPSG:9206",
    "vn2000-tm3-104": "EPSG:9206",
    "wgs84": "EPSG:4326",
}
_VN2000 = re.compile(r"vn[-_ ]?2000|vietnam[-_ ]?2000", re.IGNORECASE)


def parse_crs(text: str) -> CRS:
    """A CRS from user input: an EPSG code, WKT, PROJ string or a short name such as 'vn2000-104'."""
    value = SHORT_NAMES.get(text.strip().lower(), text)
    try:
        return normalise(CRS.from_user_input(value))
    except CRSError as exc:
        raise ValueError(f"unknown CRS {text!r}: {exc}") from exc


def is_vn2000(crs: CRS) -> bool:
    """Whether a CRS is based on the VN-2000 datum."""
    geodetic = crs.geodetic_crs
    names = [crs.name, geodetic.name if geodetic else "", crs.datum.name if crs.datum else ""]
    return any(_VN2000.search(n or "") for n in names) or crs.to_epsg() in (
        VN2000_GEOGRAPHIC,
        *VN2000_PROJECTED.values(),
    )


def normalise(crs: CRS) -> CRS:
    """The EPSG equivalent of a home-made VN-2000 definition (or one with the 7 parameters attached)."""
    if not is_vn2000(crs):
        return crs
    code = crs.to_epsg()
    if code is not None:
        return CRS.from_epsg(code)
    if crs.is_geographic:
        return CRS.from_epsg(VN2000_GEOGRAPHIC)
    params = {
        p.name.lower(): float(p.value)
        for p in (crs.coordinate_operation.params if crs.coordinate_operation else [])
        if isinstance(p.value, int | float)
    }
    lon0 = next((v for k, v in params.items() if ("longitude" in k and "origin" in k) or "central meridian" in k), None)
    k0 = next((v for k, v in params.items() if "scale factor" in k), None)
    if lon0 is not None and k0 is not None:
        kind = "utm" if abs(k0 - 0.9996) < 1e-7 else "tm"
        for (proj, meridian, scale), code in VN2000_PROJECTED.items():
            if proj == kind and abs(meridian - lon0) < 1e-6 and abs(scale - k0) < 1e-7:
                return CRS.from_epsg(code)
    proj4 = crs.to_proj4()
    return CRS.from_proj4(re.sub(r"\+towgs84=\S+", "", proj4) + f" +towgs84={VN2000_TOWGS84}")
