"""The inference path: model cards, onnxruntime, preprocessing, drawing, uploads, the network explained. Never imports torch."""
