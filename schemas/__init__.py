"""chipscreen event contract: models, codecs and exports. Imports nothing of chipscreen."""
