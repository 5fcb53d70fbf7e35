"""Open the warehouse GeoPackage in QGIS, headless, and report the style each layer opens with.

Run with the Python that has QGIS's bindings (Debian: /usr/bin/python3 with python3-qgis):
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/qgis_styles_check.py warehouse.gpkg '<request JSON>'
The request: {"layers": [names], "features": [[layer, field, value], …], "sld": {layer: path}}. Prints one JSON
object: per layer its renderer, whether labels are on, the rules' labels; per feature asked for, the fill
colour its default style draws it in; per SLD file, whether QGIS reads it and how many rules it has.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    """Load the layers with their default styles (QGIS reads them from the file's layer_styles table)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication, QgsFeatureRequest, QgsRenderContext, QgsVectorLayer

    path, request = sys.argv[1], json.loads(sys.argv[2])
    app = QgsApplication([], False)
    app.initQgis()
    out: dict[str, object] = {"layers": {}, "features": [], "sld": {}}
    loaded: dict[str, QgsVectorLayer] = {}
    for name in request["layers"]:
        layer = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
        loaded[name] = layer
        renderer = layer.renderer()
        out["layers"][name] = {  # type: ignore[index]
            "valid": layer.isValid(),
            "renderer": renderer.type() if renderer else None,
            "labels": layer.labelsEnabled(),
            "legend": [item.label() for item in renderer.legendSymbolItems()] if renderer else [],
        }
    for name, field, value in request.get("features", []):
        layer = loaded.get(name) or QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
        renderer = layer.renderer().clone()
        context = QgsRenderContext()
        renderer.startRender(context, layer.fields())
        colours = []
        for feature in layer.getFeatures(QgsFeatureRequest().setFilterExpression(f"\"{field}\" = '{value}'")):
            colours += [symbol.color().name() for symbol in renderer.symbolsForFeature(feature, context)]
        renderer.stopRender(context)
        out["features"].append({"layer": name, "value": value, "colours": colours})  # type: ignore[attr-defined]
    for name, sld_path in request.get("sld", {}).items():
        layer = QgsVectorLayer(f"{path}|layername={name}", f"{name}-sld", "ogr")
        message, ok = layer.loadSldStyle(sld_path)
        renderer = layer.renderer()
        rules = renderer.rootRule().children() if renderer and renderer.type() == "RuleRenderer" else []
        out["sld"][name] = {"ok": ok, "message": message, "rules": len(rules)}  # type: ignore[index]
    print(json.dumps(out, ensure_ascii=False), flush=True)
    os._exit(0)  # QGIS 3.22 can crash while tearing down Qt objects headless, after all work is done


if __name__ == "__main__":
    main()
