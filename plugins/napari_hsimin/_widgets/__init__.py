"""The plugin's dock widgets (magicgui containers; Qt lives only here and in the plugin)."""
from ._attribution import AttributionMapWidget
from ._inspector import SpectrumInspector
from ._mapping import MapWidget
from ._training import LabelTrainWidget

__all__ = ["AttributionMapWidget", "LabelTrainWidget", "MapWidget", "SpectrumInspector"]
