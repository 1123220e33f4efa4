"""What two or more papers use and none of them owns. Imports no paper subpackage.

* :mod:`~acai_repro.common.model`: :class:`Model`, the contract every model of every paper follows;
* :mod:`~acai_repro.common.players`: the players of a game (:func:`frozen`, :class:`Optimizers`, :func:`update`);
* :mod:`~acai_repro.common.mlp`: the one MLP builder and the TensorFlow / Keras initialisers the papers' code used;
* :mod:`~acai_repro.common.batches`: :class:`BatchSampler`, mini-batches of a data set held on the device;
* :mod:`~acai_repro.common.codes`: :func:`encode_all`, :func:`decode_all`, :func:`reconstruct_all` in chunks.
"""
