# Two commands on a fresh machine: `make test` and `make book`. Each installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Numba (UMAP) compiles once per process; cache its machine code inside the checkout.
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
export MPLBACKEND ?= Agg
# Kernels draw into the notebook (as papermill runs do: acai_repro.runner.execute forces this backend).
INLINE := module://matplotlib_inline.backend_inline
# Tests run in parallel, one pytest-xdist worker per core, each on one thread (threads of tiny ops only spin-wait).
# nbval compares printed numbers: references and checks run on one thread (float sums depend on the thread count).
ONE_THREAD := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
NBVAL_ENV  := MPLBACKEND=$(INLINE) $(ONE_THREAD)
# xdist: the book's tests share one worker (the book is built once); a notebook's cells stay in one worker, in order.
JOBS       ?= auto

.PHONY: install browser test test-unit test-nbval book nbval-refs clean

install: $(STAMP)

# constraints.txt pins torch==2.13.0 (the CPU build here); see README for a CUDA machine.
$(STAMP): pyproject.toml constraints.txt environment.yml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[book,test]"
	touch $(STAMP)

# Headless Chromium for the browser tests (Debian package, as root); elsewhere those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	        echo "make: could not install chromium; the browser tests will be skipped"; \
	    else echo "make: no chromium and no root apt-get; the browser tests will be skipped"; fi; }

test: install browser
	rm -rf tests/nbval/.runs
	$(ONE_THREAD) $(BIN)/python -m pytest -q -n $(JOBS) --dist loadgroup tests
	$(NBVAL_ENV) $(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile --nbval tests/nbval \
	  --nbval-sanitize-with tests/nbval/sanitize.cfg

book: install
	$(BIN)/acai-repro book

# Re-create the nbval references from the smoke profile (after a deliberate change of a notebook's output).
nbval-refs: install
	$(NBVAL_ENV) $(BIN)/python data_scripts/make_nbval_refs.py

clean:
	rm -rf _build book/executed results/smoke results/quick

# The ignored folder a GPU window carries (.gpu/carry): CelebA at 64 x 64, MNIST files, wheels the GPU machine lacks;
# prints its size beside the working tree's (64 MiB may travel in all). See `acai-repro gpu plan`.
.PHONY: gpu-carry
gpu-carry: install
	$(BIN)/python -m acai_repro.gpu.carry --out .gpu/carry
