"""Toy models whose answers are known, shared by the tests.

- :mod:`toys.black_boxes`: numpy black boxes (uint8 NHWC in, probabilities out) with planted weak pixels, pairs,
  smooth landscapes;
- :mod:`toys.nets`: small seeded torch nets, nets with a planted weak pixel, and the batch-versus-alone check;
- :mod:`toys.liars`: classifiers whose fast precision disagrees with the reference;
- :mod:`toys.onnx_builder`: tiny ONNX files written without the ``onnx`` package.
"""
