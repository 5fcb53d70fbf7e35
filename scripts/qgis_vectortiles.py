"""Open the atlas's vector tiles in QGIS with its MapLibre style, headless, and render them to a PNG.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/qgis_vectortiles.py http://127.0.0.1:8000 units_2025 out.png
Prints one JSON object: layer validity, the style's conversion result and the rendered image's colours.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request


def main() -> None:
    """Load /ogc/collections/{id}/tiles as a QGIS vector tile layer styled from the MapLibre style."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # a QGIS profile of its own: QGIS caches tiles over HTTP, and a stale cache must not hide a change
    os.environ.setdefault("QGIS_CUSTOM_CONFIG_PATH", os.environ.get("ATLAS_QGIS_PROFILE", "/tmp/atlas-qgis-profile"))
    from qgis.core import (
        QgsApplication,
        QgsCoordinateReferenceSystem,
        QgsMapBoxGlStyleConverter,
        QgsMapRendererSequentialJob,
        QgsMapSettings,
        QgsRectangle,
        QgsVectorTileLayer,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    base, collection, image = sys.argv[1], sys.argv[2], sys.argv[3]
    app = QgsApplication([], False)
    app.initQgis()
    template = f"{base}/ogc/collections/{collection}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"
    layer = QgsVectorTileLayer(f"type=xyz&url={template}&zmin=0&zmax=14", collection)
    with urllib.request.urlopen(f"{base}/ogc/collections/{collection}/styles/default") as response:
        style = json.load(response)
    converter = QgsMapBoxGlStyleConverter()
    result = converter.convert(style)
    report: dict[str, object] = {"valid": layer.isValid(), "style": int(result), "warnings": converter.warnings()}
    if layer.isValid() and converter.renderer():
        layer.setRenderer(converter.renderer())
        settings = QgsMapSettings()
        settings.setLayers([layer])
        settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
        settings.setExtent(QgsRectangle(11487000, 2330000, 11700000, 2520000))  # north-west Sơn La
        settings.setOutputSize(QSize(600, 500))
        settings.setBackgroundColor(QColor("white"))
        job = QgsMapRendererSequentialJob(settings)
        job.start()
        job.waitForFinished()
        rendered = job.renderedImage()
        rendered.save(image, "PNG")
        colours = {rendered.pixelColor(x, y).name() for x in range(0, 600, 10) for y in range(0, 500, 10)}
        report["colours"] = sorted(colours)
    print(json.dumps(report, ensure_ascii=False), flush=True)
    app.exitQgis()
    os._exit(0)  # QGIS 3.22 can crash while tearing down Qt objects headless, after all work is done


if __name__ == "__main__":
    main()
