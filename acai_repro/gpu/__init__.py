"""Everything a GPU window needs: the fast training step, the window's plan, its run, and bringing runs back.

A GPU machine is lent rarely and briefly (see ``book/`` and ``acai-repro gpu plan``), so the whole window is one
rehearsed command and nothing is left to debug on the clock:

* :mod:`~acai_repro.gpu.graphs`: the fast path, one model's whole ``train_step`` captured as a CUDA graph;
* :mod:`~acai_repro.gpu.items`: what a window trains, in order of value, each item one run of a notebook, trained
  by the very function the notebook calls, into the folder ``acai-repro run`` looks in;
* :mod:`~acai_repro.gpu.plan`: each item's estimated time and size, from measured speeds or stated assumptions;
* :mod:`~acai_repro.gpu.window`: ``acai-repro gpu run``: bench, train what fits the budget, pack;
* :mod:`~acai_repro.gpu.worker`: one item in its own process (several run at once on one GPU);
* :mod:`~acai_repro.gpu.pack`: finished runs into at most 8 files of at most 16 MiB, and back into ``results/``;
* :mod:`~acai_repro.gpu.carry`: ``make gpu-carry``, the data and wheels a window takes along;
* :mod:`~acai_repro.gpu.command`: the ``acai-repro gpu plan | run | unpack`` command line, and
  :mod:`~acai_repro.gpu.errors` its errors (exit status 2, before any work starts).
"""
