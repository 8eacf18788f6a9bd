#!/bin/sh
# Robustness sweep over the third-party image corpus in ../shared/corpus
# (see tests/corpus_sweep.py).  Skipped (77) when the corpus is absent.
corpus="${CORPUS:-$SRCDIR/../shared/corpus}"
if [ ! -f "$corpus/INDEX.tsv" ]; then
	echo "no corpus at $corpus: skipped"
	exit 77
fi
exec python3 "$SRCDIR/tests/corpus_sweep.py" --jobs 2 "$corpus"
