"""Open the atlas's OGC API in QGIS, headless: count features, read attributes, optionally render a map.

Run with the Python that has QGIS's bindings (Debian: /usr/bin/python3 with python3-qgis):
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/qgis_check.py http://127.0.0.1:8000/ogc units_2025 [out.png]
        [--bbox=minx,miny,maxx,maxy]
With --bbox, QGIS is asked for the features of that view only (as when a map is panned there), with the
connection's "Only request features overlapping the view extent" on.
Prints one JSON object: QGIS version, layer validity, feature count, field types, a sample feature.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    """Load one collection through QGIS's OAPIF provider and report what QGIS sees."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import (
        Qgis,
        QgsApplication,
        QgsCoordinateReferenceSystem,
        QgsMapRendererParallelJob,
        QgsMapSettings,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    args = [a for a in sys.argv[1:] if not a.startswith("--bbox=")]
    bbox = [float(v) for a in sys.argv[1:] if a.startswith("--bbox=") for v in a.removeprefix("--bbox=").split(",")]
    base, collection = args[0], args[1]
    image = args[2] if len(args) > 2 else None
    app = QgsApplication([], False)
    app.initQgis()
    uri = f"url='{base}' typename='{collection}'"
    if bbox:  # "Only request features overlapping the view extent", as the README advises on slow links
        uri += " restrictToRequestBBOX='1'"
    layer = QgsVectorLayer(uri, collection, "OAPIF")
    report: dict[str, object] = {"qgis": Qgis.QGIS_VERSION, "valid": layer.isValid(), "uri": uri}
    if layer.isValid():
        if bbox:
            from qgis.core import QgsFeatureRequest, QgsRectangle

            features = list(layer.getFeatures(QgsFeatureRequest().setFilterRect(QgsRectangle(*bbox))))
        else:
            features = list(layer.getFeatures())
        fields = layer.fields()
        report["count"] = len(features)
        report["crs"] = layer.crs().authid()
        field_types = {f.name(): f.typeName() for f in fields}
        report["fields"] = field_types
        first = features[0] if features else None
        wanted = ("code", "name", "unit_type", "n_communes_2024", "area_km2")
        sample = {name: (first[name] if first else None) for name in field_types if name in wanted}
        report["sample"] = {
            k: (v if isinstance(v, int | float | str) or v is None else str(v)) for k, v in sample.items()
        }
        if image:
            if "poor_rate" in field_types:
                from qgis.core import QgsClassificationJenks, QgsGraduatedSymbolRenderer, QgsStyle

                renderer = QgsGraduatedSymbolRenderer("poor_rate")
                renderer.setClassificationMethod(QgsClassificationJenks())
                renderer.updateClasses(layer, 5)
                renderer.updateColorRamp(QgsStyle().defaultStyle().colorRamp("Reds"))
                layer.setRenderer(renderer)
            else:
                layer.renderer().symbol().setColor(QColor("#7570b3"))
            settings = QgsMapSettings()
            settings.setLayers([layer])
            settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3405"))
            settings.setExtent(settings.layerExtentToOutputExtent(layer, layer.extent()))
            settings.setOutputSize(QSize(900, 700))
            settings.setBackgroundColor(QColor("white"))
            job = QgsMapRendererParallelJob(settings)
            job.start()
            job.waitForFinished()
            job.renderedImage().save(image, "PNG")
            report["image"] = image
    print(json.dumps(report, ensure_ascii=False), flush=True)
    app.exitQgis()
    os._exit(0)  # QGIS 3.22 can crash while tearing down Qt objects headless, after all work is done


if __name__ == "__main__":
    main()
