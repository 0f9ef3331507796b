# Figures: the seed answer's illustration (one dataset, its figures 1 and 2) and the study's
# figures from the summary table. Each rule writes a PNG (in the report) and a PDF.
# `snakemake --report results/report.html` collects figures, captions and tables.

FIGURES = res("figures")

# The seed example (its dataset and the answer's figures 1 and 2) only when the config has a
# seed_example block; it is fitted with the study's own settings (method, interval level, prior).
SEED_EXAMPLE = STUDY.seed_example is not None

if SEED_EXAMPLE:
    SEED_CELL = {
        "sizes": list(STUDY.seed_cell.sizes),
        "sigma": float(STUDY.seed_cell.sigma),
        "tau": float(STUDY.seed_cell.tau),
        "mu": float(STUDY.seed_cell.mu),
    }
    SEED_SETTINGS = {k: fit_settings(STUDY.config)[k] for k in ("method", "level", "prior")}
    # How its seed is chosen: the given seed, or the closest fit to a target among candidate seeds.
    SEED_CHOICE = seed_choice(STUDY.config["seed_example"])


    rule seed_example:
        input:
            code=code("seed_example.py"),
        output:
            # each with its checksum record (seed/.checksums/<name>.sha256), checked by its readers
            **sealed(
                data=res("seed/data.csv"),
                estimates=res("seed/estimates.csv"),
                fit=res("seed/fit.json"),
            ),
        params:
            cell=SEED_CELL,
            choice=SEED_CHOICE,
            settings=SEED_SETTINGS,
        log:
            res("logs/seed_example.log"),
        benchmark:
            res("benchmarks/seed_example.tsv")
        conda:
            ENV
        script:
            "../scripts/seed_example.py"


    rule fig_seed_shrinkage:
        input:
            data=rules.seed_example.output.data,
            estimates=rules.seed_example.output.estimates,
            fit=rules.seed_example.output.fit,
            code=code("fig_seed_shrinkage.py"),
        output:
            png=report(
                f"{FIGURES}/seed_shrinkage.png",
                caption="../report/seed_shrinkage.rst",
                category="1. Seed example",
            ),
            pdf=f"{FIGURES}/seed_shrinkage.pdf",
        log:
            res("logs/figures/seed_shrinkage.log"),
        benchmark:
            res("benchmarks/figures/seed_shrinkage.tsv")
        conda:
            ENV
        script:
            "../scripts/fig_seed_shrinkage.py"


    rule fig_seed_blup_bayesglm:
        input:
            estimates=rules.seed_example.output.estimates,
            fit=rules.seed_example.output.fit,
            code=code("fig_seed_blup_bayesglm.py"),
        output:
            png=report(
                f"{FIGURES}/seed_blup_bayesglm.png",
                caption="../report/seed_blup_bayesglm.rst",
                category="1. Seed example",
            ),
            pdf=f"{FIGURES}/seed_blup_bayesglm.pdf",
        log:
            res("logs/figures/seed_blup_bayesglm.log"),
        benchmark:
            res("benchmarks/figures/seed_blup_bayesglm.tsv")
        conda:
            ENV
        script:
            "../scripts/fig_seed_blup_bayesglm.py"


# The study's figures from the summary table, drawn by fig_summary.py with
# shrinkstudy.figures.plot_<name> in one job (extra params are its keywords). A figure whose
# rows, options and code are unchanged is copied from its cache (results/figures/.cache), not
# redrawn (shrinkstudy.figures.cache): after a change that adds a cell, only the figures that
# plot it are drawn.
SUMMARY_FIGURES = {
    "relmse_by_n": {"category": "2. Accuracy"},
    "nested_loop": {"category": "2. Accuracy"},
    "group_size_mse": {"category": "2. Accuracy"},
    "spread": {"category": "3. Spread, boundary fits, coverage"},
    "boundary": {"category": "3. Spread, boundary fits, coverage"},
    "coverage": {
        "category": "3. Spread, boundary fits, coverage",
        "params": {"level": float(config["level"])},
    },
    "worlds_relmse": {"category": "5. When the model is wrong"},
    "worlds_w1": {"category": "5. When the model is wrong"},
    "worlds_coverage": {
        "category": "5. When the model is wrong",
        "params": {"level": float(config["level"])},
    },
}


# Each figure's caption in the report, written from the study (shrinkstudy.captions: the cells and
# estimators it draws, and those it leaves out with the reason); workflow/report/<figure>.rst
# prints it.
FIGURE_CAPTIONS = figure_captions(STUDY)


rule summary_figures:
    input:
        summary=rules.aggregate.output.summary,
        code=code("fig_summary.py"),
    output:
        **figure_outputs(SUMMARY_FIGURES, FIGURES),
    params:
        figures={fig: spec.get("params", {}) for fig, spec in SUMMARY_FIGURES.items()},
        captions=FIGURE_CAPTIONS,
    # the longest job after the summary: started first, beside the short report jobs
    priority: 10
    log:
        res("logs/figures/summary_figures.log"),
    benchmark:
        res("benchmarks/figures/summary_figures.tsv")
    conda:
        ENV
    script:
        "../scripts/fig_summary.py"


# The report shows images and HTML inline: the tables go in as HTML pages.
rule report_tables:
    input:
        summary=rules.aggregate.output.summary,
        headline=rules.aggregate.output.headline,
        replication=rules.aggregate.output.replication,
        code=code("report_tables.py"),
    output:
        summary=report(
            res("report/summary.html"),
            caption="../report/summary_table.rst",
            category="4. Tables",
        ),
        headline=report(
            res("report/headline.html"),
            caption="../report/headline_table.rst",
            category="4. Tables",
        ),
        replication=report(
            res("report/replication.html"),
            caption="../report/replication_table.rst",
            category="4. Tables",
        ),
    log:
        res("logs/figures/report_tables.log"),
    benchmark:
        res("benchmarks/figures/report_tables.tsv")
    conda:
        ENV
    script:
        "../scripts/report_tables.py"


# Every figure (PNG and PDF) and the report's table pages; rule all builds them.
SEED_FIGURES = (rules.fig_seed_shrinkage, rules.fig_seed_blup_bayesglm) if SEED_EXAMPLE else ()
FIGURE_TARGETS = (
    [path for r in SEED_FIGURES for path in (r.output.png, r.output.pdf)]
    + list(rules.summary_figures.output)
    + list(rules.report_tables.output)
)
# The seed example's files (none without a seed_example block)
SEED_TARGETS = list(rules.seed_example.output) if SEED_EXAMPLE else []
