# shrinkstudy: one command for the study, one for the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= all
# This project's library, whatever environment is active (an environment installed from another
# copy of the project would otherwise check and run that copy's code).
LIB    := PYTHONPATH="$(CURDIR)/src$${PYTHONPATH:+:$$PYTHONPATH}"

.PHONY: study test bench timing advise-timing report quick example clean-results venv docs advice-example

$(BIN)/snakemake: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/snakemake

# A study file of your own: make study CONFIG=mine.yaml (that file alone is the study). It is
# checked first (file and line of a YAML problem, the key of a bad value), then run; the same
# command resumes a run that was killed.
CONFIG ?=

## make study: the full default study (config/config.yaml, or CONFIG=file) on all cores
study: $(BIN)/snakemake
	$(LIB) $(BIN)/python -m shrinkstudy.config $(or $(CONFIG),config/config.yaml)
	$(BIN)/snakemake --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG))

## make quick: the small study (config/quick.yaml), half a minute
quick: $(BIN)/snakemake
	$(LIB) $(BIN)/python -m shrinkstudy.config config/quick.yaml
	$(BIN)/snakemake --cores $(CORES) --configfile config/quick.yaml

## make example: a study with a user's own estimator (config/example_plugin.yaml, examples/)
example: $(BIN)/snakemake
	$(LIB) $(BIN)/python -m shrinkstudy.config config/example_plugin.yaml
	$(BIN)/snakemake --cores $(CORES) --configfile config/example_plugin.yaml

## make advice-example: shrinkstudy advise on tests/data/clinics_unequal.csv (advice/clinics/) and,
## known SEs, on tests/data/eight_schools.csv (advice/eight_schools/), their advice copied to
## docs/advice-clinics.md, docs/advice-eight-schools.md and their .png (the README's section quotes them)
advice-example: $(BIN)/snakemake
	$(LIB) $(BIN)/python -m shrinkstudy advise tests/data/clinics_unequal.csv --group clinic --value score --out advice/clinics
	mkdir -p docs
	sed 's/(advice.png)/(advice-clinics.png)/' advice/clinics/advice.md > docs/advice-clinics.md
	cp advice/clinics/advice.png docs/advice-clinics.png
	$(LIB) $(BIN)/python -m shrinkstudy advise tests/data/eight_schools.csv --group school --value estimate --se se --out advice/eight_schools
	sed 's/(advice.png)/(advice-eight-schools.png)/' advice/eight_schools/advice.md > docs/advice-eight-schools.md
	cp advice/eight_schools/advice.png docs/advice-eight-schools.png

## make test: the test suite (R-based reference tests skip where Rscript is absent)
test: $(BIN)/snakemake
	$(LIB) $(BIN)/python -m pytest -n 2 --dist loadfile -q

## make bench: throughput of the engine against statsmodels MixedLM (and lme4 when R is present)
bench: $(BIN)/snakemake
	$(LIB) $(BIN)/python -m benchmarks.bench

## make timing: the default study from empty results/, then one new cell on top of it, back to back
## (and the grown study from empty, compared byte for byte): results/timing/timing.json
timing: $(BIN)/snakemake
	$(LIB) $(BIN)/python -m benchmarks.timing --verify

## make advise-timing: shrinkstudy advise on 100 clinics of 3 to 500 patients, from nothing and
## again (the second call runs no job): results/timing/advise.json
advise-timing: $(BIN)/snakemake
	$(LIB) $(BIN)/python -m benchmarks.advise_timing

## make report: browsable HTML report of the study (the default one, or CONFIG=file), in its results
## directory (results/report.html; results/mine/report.html for a study with results: results/mine)
STUDY_RESULTS = $(LIB) $(BIN)/python -c 'import sys; from shrinkstudy.config import load_study, read_config_file; print(load_study(read_config_file(sys.argv[1])).config["results"].rstrip("/"))'
report: study
	$(BIN)/snakemake --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG)) --report "$$($(STUDY_RESULTS) $(or $(CONFIG),config/config.yaml))/report.html"

clean-results:
	rm -rf results .snakemake/metadata

## make docs: copy the README's figures, headline table and numbers from results/ (after make
## study; and the records of make timing and make bench where they exist); tests/test_readme.py
## then holds the README's findings, running times and rates to docs/*.json
docs: results/tables/headline.md results/tables/findings.json
	mkdir -p docs
	cp results/figures/seed_shrinkage.png results/figures/relmse_by_n.png results/figures/worlds_w1.png docs/
	sed -n '/^## The seed/,$$p' results/tables/headline.md > docs/headline-seed.md
	cp results/tables/findings.json docs/findings.json
	if [ -f results/timing/timing.json ]; then cp results/timing/timing.json docs/timing.json; fi
	if [ -f results/timing/advise.json ]; then cp results/timing/advise.json docs/advise-timing.json; fi
	if [ -f results/bench/bench.json ]; then cp results/bench/bench.json docs/bench.json; fi
